//! A calculator tool for agents: arithmetic over decimal numbers with `+ - * / % **` (or `^`)
//! and parentheses, in f64. Hand-written rather than evalexpr (which divides integer literals
//! as integers, so `7/2` is 3) or meval (unmaintained): about sixty lines, no dependency.

/// Evaluates an arithmetic expression such as `(12 + 3) * 4 / 5`; integral results come back
/// as integers.
#[dspy::tool]
pub fn calculator(
    /// The expression: numbers, + - * / % ** and parentheses, e.g. `(48 / 2) * 3`.
    expression: String,
) -> Result<serde_json::Value, String> {
    let value = evaluate(&expression)?;
    if !value.is_finite() {
        return Err(format!("`{expression}` has no finite value"));
    }
    Ok(if value.fract() == 0.0 && value.abs() < 1e15 {
        serde_json::json!(value as i64)
    } else {
        serde_json::json!((value * 1e6).round() / 1e6)
    })
}

/// The value of `src`, or what is wrong with it.
pub fn evaluate(src: &str) -> Result<f64, String> {
    let tokens: Vec<char> = src
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ',' && *c != '$')
        .collect();
    let mut p = Parser { t: &tokens, i: 0 };
    let v = p.sum()?;
    match p.t.get(p.i) {
        None => Ok(v),
        Some(c) => Err(format!(
            "unexpected `{c}` at position {} of `{src}`",
            p.i + 1
        )),
    }
}

struct Parser<'a> {
    t: &'a [char],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.t.get(self.i).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }

    fn sum(&mut self) -> Result<f64, String> {
        let mut v = self.product()?;
        loop {
            if self.eat('+') {
                v += self.product()?;
            } else if self.eat('-') {
                v -= self.product()?;
            } else {
                return Ok(v);
            }
        }
    }

    fn product(&mut self) -> Result<f64, String> {
        let mut v = self.power()?;
        loop {
            if self.peek() == Some('*') && self.t.get(self.i + 1) != Some(&'*') {
                self.i += 1;
                v *= self.power()?;
            } else if self.eat('/') {
                let d = self.power()?;
                if d == 0.0 {
                    return Err("division by zero".into());
                }
                v /= d;
            } else if self.eat('%') {
                v %= self.power()?;
            } else {
                return Ok(v);
            }
        }
    }

    fn power(&mut self) -> Result<f64, String> {
        let base = self.unary()?;
        if self.eat('^') || (self.peek() == Some('*') && self.t.get(self.i + 1) == Some(&'*')) {
            if self.t.get(self.i) == Some(&'*') {
                self.i += 2;
            }
            return Ok(base.powf(self.power()?));
        }
        Ok(base)
    }

    fn unary(&mut self) -> Result<f64, String> {
        if self.eat('-') {
            return Ok(-self.unary()?);
        }
        if self.eat('+') {
            return self.unary();
        }
        if self.eat('(') {
            let v = self.sum()?;
            return if self.eat(')') {
                Ok(v)
            } else {
                Err("a `(` is not closed".into())
            };
        }
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
            self.i += 1;
        }
        let text: String = self.t[start..self.i].iter().collect();
        match self.peek() {
            _ if !text.is_empty() => text
                .parse()
                .map_err(|_| format!("`{text}` is not a number")),
            Some(c) => Err(format!("expected a number, got `{c}`")),
            None => Err("the expression ends too soon".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::evaluate;

    #[test]
    fn precedence_and_parentheses() {
        assert_eq!(evaluate("2 + 3 * 4"), Ok(14.0));
        assert_eq!(evaluate("(2 + 3) * 4"), Ok(20.0));
        assert_eq!(evaluate("2 ** 3 ** 2"), Ok(512.0));
        assert_eq!(evaluate("-3 + 10 / 4"), Ok(-0.5));
        assert_eq!(evaluate("1,200 * $3"), Ok(3600.0));
        assert!(evaluate("1 / 0").is_err());
        assert!(evaluate("2 +").is_err());
        assert!(evaluate("x + 1").is_err());
    }
}
