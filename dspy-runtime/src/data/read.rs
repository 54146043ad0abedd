//! JSONL and CSV readers; a `.bz2` file is decompressed on the fly.

use super::{DataError, Example};
use serde::de::DeserializeOwned;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Opens `path`, decompressing it when its name ends in `.bz2`.
pub(crate) fn open(path: &Path, hint: Option<&'static str>) -> Result<Box<dyn Read>, DataError> {
    let file = File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
        hint,
    })?;
    let file = BufReader::new(file);
    if path.extension().is_some_and(|e| e == "bz2") {
        Ok(Box::new(bzip2::read::MultiBzDecoder::new(file)))
    } else {
        Ok(Box::new(file))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
        hint: None,
    }
}

/// Reads one `T` per non-blank line of a JSONL file (`.jsonl` or `.jsonl.bz2`).
pub fn read_jsonl<T: DeserializeOwned>(path: impl AsRef<Path>) -> Result<Vec<T>, DataError> {
    read_jsonl_with(path.as_ref(), None, |v| serde_json::from_value(v))
}

/// Reads one CSV record per `T`, matching columns to fields by the header row (`.csv` or
/// `.csv.bz2`).
pub fn read_csv<T: DeserializeOwned>(path: impl AsRef<Path>) -> Result<Vec<T>, DataError> {
    read_csv_with(path.as_ref(), None, |r, h| r.deserialize(Some(h)))
}

impl<I: DeserializeOwned, L: DeserializeOwned> Example<I, L> {
    /// Reads examples from a JSONL file whose lines hold both the input's and the label's fields.
    pub fn read_jsonl(path: impl AsRef<Path>) -> Result<Vec<Self>, DataError> {
        read_jsonl_with(path.as_ref(), None, |v| Example::from_record(&v))
    }

    /// Reads examples from a CSV file whose columns hold both the input's and the label's fields.
    pub fn read_csv(path: impl AsRef<Path>) -> Result<Vec<Self>, DataError> {
        read_csv_with(path.as_ref(), None, |r, h| {
            Ok(Example {
                input: r.deserialize(Some(h))?,
                label: r.deserialize(Some(h))?,
            })
        })
    }
}

pub(crate) fn read_jsonl_with<T>(
    path: &Path,
    hint: Option<&'static str>,
    mut parse: impl FnMut(serde_json::Value) -> Result<T, serde_json::Error>,
) -> Result<Vec<T>, DataError> {
    let reader = BufReader::new(open(path, hint)?);
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(io(path))?;
        if line.trim().is_empty() {
            continue;
        }
        let record = |message: String| DataError::Record {
            path: path.to_path_buf(),
            line: i as u64 + 1,
            message,
        };
        let value = serde_json::from_str(&line).map_err(|e| record(e.to_string()))?;
        out.push(parse(value).map_err(|e| record(e.to_string()))?);
    }
    Ok(out)
}

pub(crate) fn read_csv_with<T>(
    path: &Path,
    hint: Option<&'static str>,
    mut parse: impl FnMut(&csv::StringRecord, &csv::StringRecord) -> Result<T, csv::Error>,
) -> Result<Vec<T>, DataError> {
    let mut reader = csv::Reader::from_reader(open(path, hint)?);
    let record_err = |line: u64, message: String| DataError::Record {
        path: path.to_path_buf(),
        line,
        message,
    };
    let headers = reader
        .headers()
        .map_err(|e| record_err(1, e.to_string()))?
        .clone();
    let mut out = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                return Err(record_err(line, e.to_string()));
            }
        }
        let line = record.position().map_or(0, csv::Position::line);
        let value = parse(&record, &headers)
            .map_err(|e| record_err(line, describe_csv_error(&e, &record, &headers)))?;
        out.push(value);
    }
    Ok(out)
}

/// "column `answer`: invalid digit found in string (got "many")" for a field that does not fit.
fn describe_csv_error(
    e: &csv::Error,
    record: &csv::StringRecord,
    headers: &csv::StringRecord,
) -> String {
    if let csv::ErrorKind::Deserialize { err, .. } = e.kind() {
        if let Some(i) = err.field().and_then(|i| usize::try_from(i).ok()) {
            let column = headers.get(i).unwrap_or("?");
            let got = record.get(i).unwrap_or("");
            return format!("column `{column}`: {} (got {got:?})", err.kind());
        }
        return err.kind().to_string();
    }
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::io::Write;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Q {
        question: String,
    }
    #[derive(Debug, PartialEq, Deserialize)]
    struct A {
        answer: i64,
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn bz2(bytes: &[u8]) -> Vec<u8> {
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn jsonl_and_csv_plain_and_bz2() {
        let dir = std::env::temp_dir().join(format!("dspy-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let jsonl =
            b"{\"question\": \"1+1\", \"answer\": 2}\n\n{\"question\": \"2+2\", \"answer\": 4}\n";
        let csv = b"question,answer\n\"1+1, really\",2\n2+2,4\n";
        for (name, bytes) in [
            ("a.jsonl", jsonl.to_vec()),
            ("a.jsonl.bz2", bz2(jsonl)),
            ("a.csv", csv.to_vec()),
            ("a.csv.bz2", bz2(csv)),
        ] {
            let p = write(&dir, name, &bytes);
            let got: Vec<Example<Q, A>> = if name.contains("jsonl") {
                Example::read_jsonl(&p).unwrap()
            } else {
                Example::read_csv(&p).unwrap()
            };
            assert_eq!(got.len(), 2, "{name}");
            assert_eq!(got[1].label.answer, 4, "{name}");
            assert!(got[0].input.question.starts_with("1+1"), "{name}");
        }
        let bad = write(
            &dir,
            "bad.jsonl",
            b"{\"question\": \"q\", \"answer\": 1}\n{\"question\": 3}\n",
        );
        let err = read_jsonl::<Q>(&bad).unwrap_err().to_string();
        assert!(
            err.ends_with("bad.jsonl:2: invalid type: integer `3`, expected a string"),
            "{err}"
        );
        let bad = write(&dir, "bad.csv", b"question,answer\nq,1\nq,many\n");
        let err = Example::<Q, A>::read_csv(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.csv:3:") && err.contains("many"), "{err}");
        let corrupt = write(&dir, "corrupt.csv.bz2", b"BZh9 not really bzip2");
        assert!(read_csv::<Q>(&corrupt).is_err());
        let missing = read_jsonl::<Q>(dir.join("missing.jsonl"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("missing.jsonl"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
