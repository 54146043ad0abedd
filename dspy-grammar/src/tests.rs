use super::*;

fn names(fields: &[ParsedField]) -> Vec<&str> {
    fields.iter().map(|f| f.name.as_str()).collect()
}

#[test]
fn parses_untyped_fields_as_str() {
    let sig = parse("question, context -> answer").unwrap();
    assert_eq!(names(&sig.inputs), ["question", "context"]);
    assert_eq!(names(&sig.outputs), ["answer"]);
    assert!(sig.inputs.iter().all(|f| f.ty == TypeExpr::Str));
}

#[test]
fn rust_and_python_spellings_mean_the_same() {
    let rust = parse("a: Vec<String>, b: Option<i64>, c: HashMap<String, f64> -> d: bool").unwrap();
    let py = parse("a: list[str], b: Optional[int], c: dict[str, float] -> d: bool").unwrap();
    for (r, p) in rust.inputs.iter().zip(&py.inputs) {
        assert_eq!(r.ty.dspy_name(), p.ty.dspy_name());
    }
    assert_eq!(py.inputs[0].ty.dspy_name(), "list[str]");
    assert_eq!(py.inputs[1].ty.dspy_name(), "Union[int, NoneType]");
    assert_eq!(py.inputs[2].ty.dspy_name(), "dict[str, float]");
}

#[test]
fn literal_values_and_their_dspy_name() {
    let sig = parse(r#"text -> label: Literal['a', "b's", 'c']"#).unwrap();
    assert_eq!(
        sig.outputs[0].ty,
        TypeExpr::Literal(vec!["a".into(), "b's".into(), "c".into()])
    );
    assert_eq!(sig.outputs[0].ty.dspy_name(), r#"Literal['a', "b's", 'c']"#);
}

#[test]
fn nested_commas_do_not_split_fields() {
    let sig = parse("x: dict[str, list[int]], y: Literal['a, b', 'c'] -> z").unwrap();
    assert_eq!(names(&sig.inputs), ["x", "y"]);
    assert_eq!(sig.inputs[0].ty.dspy_name(), "dict[str, list[int]]");
}

#[test]
fn user_types_by_path() {
    let sig = parse("text -> person: crate::model::Person, people: Vec<Person>").unwrap();
    assert_eq!(
        sig.outputs[0].ty,
        TypeExpr::Named("crate::model::Person".into())
    );
    assert_eq!(sig.outputs[0].ty.dspy_name(), "Person");
    assert_eq!(sig.outputs[1].ty.dspy_name(), "list[Person]");
}

#[test]
fn spans_point_at_names_and_types() {
    let src = "question -> answer: bool";
    let sig = parse(src).unwrap();
    assert_eq!(&src[sig.outputs[0].span.clone()], "answer");
    assert_eq!(&src[sig.outputs[0].ty_span.clone().unwrap()], "bool");
}

fn err(src: &str) -> Vec<GrammarError> {
    parse(src).unwrap_err()
}

#[test]
fn missing_arrow() {
    let e = err("question, answer");
    assert!(e[0].message.contains("needs `->`"), "{e:?}");
}

#[test]
fn empty_sides_and_names() {
    assert!(err("-> answer")[0].message.contains("no input fields"));
    assert!(err("question ->")[0].message.contains("no output fields"));
    assert!(
        err("question, , context -> a")[0]
            .message
            .contains("empty field name")
    );
    let trailing = err("question, -> answer");
    assert!(
        trailing[0].message.contains("trailing comma"),
        "{trailing:?}"
    );
    assert_eq!(&"question, -> answer"[trailing[0].span.clone()], ",");
}

#[test]
fn unknown_type_names_the_type() {
    let src = "question -> answer: integer";
    let e = err(src);
    assert!(e[0].message.starts_with("unknown type `integer`"), "{e:?}");
    assert_eq!(&src[e[0].span.clone()], "integer");
}

#[test]
fn every_error_is_reported() {
    let e = err("a: integer, a -> completed, b: Vec<");
    let msgs: Vec<&str> = e.iter().map(|e| e.message.as_str()).collect();
    assert!(
        msgs.iter().any(|m| m.contains("unknown type `integer`")),
        "{msgs:?}"
    );
    assert!(msgs.iter().any(|m| m.contains("reserved")), "{msgs:?}");
    assert!(
        msgs.iter().any(|m| m.contains("unexpected end")),
        "{msgs:?}"
    );
}

#[test]
fn duplicates_and_reserved_names() {
    assert!(err("a, a -> b")[0].message.contains("duplicate field `a`"));
    assert!(err("a -> completed")[0].message.contains("reserved"));
}

#[test]
fn map_keys_must_be_strings_and_tuples_are_refused() {
    assert!(
        err("a: dict[int, str] -> b")[0]
            .message
            .contains("map keys must be strings")
    );
    assert!(err("a: (i32, i32) -> b")[0].message.contains("tuples"));
}

#[test]
fn default_instructions_match_dspy() {
    assert_eq!(
        default_instructions(["question", "context"], ["answer"]),
        "Given the fields `question`, `context`, produce the fields `answer`."
    );
}

fn nested(open: &str, close: &str, depth: usize) -> String {
    format!("a: {}str{} -> b", open.repeat(depth), close.repeat(depth))
}

#[test]
fn nesting_is_limited() {
    for (open, close) in [
        ("list[", "]"),
        ("Vec<", ">"),
        ("Optional[", "]"),
        ("dict[str, ", "]"),
        ("HashMap<String, ", ">"),
    ] {
        let ok = parse(&nested(open, close, MAX_TYPE_DEPTH - 1)).unwrap();
        assert!(ok.inputs[0].ty.dspy_name().len() > MAX_TYPE_DEPTH);
        let src = nested(open, close, MAX_TYPE_DEPTH);
        let e = err(&src);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].message.starts_with("type nested more than 32 deep"),
            "{e:?}"
        );
        let at = &src[e[0].span.clone()];
        assert!(
            at == "str" || at == "String",
            "the type that is too deep: {at}"
        );
    }
}

#[test]
fn a_hundred_thousand_levels_are_an_error_not_a_stack_overflow() {
    for (open, close) in [("list[", "]"), ("dict[str, ", "]"), ("Option<", ">")] {
        let e = err(&nested(open, close, 100_000));
        assert!(e[0].message.contains("nested more than 32 deep"), "{e:?}");
    }
    // Unbalanced, too: only the opening half.
    let e = err(&format!("a: {}str -> b", "list[".repeat(100_000)));
    assert!(e[0].message.contains("nested more than 32 deep"), "{e:?}");
}
