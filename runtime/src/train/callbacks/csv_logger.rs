//! Keras's `CSVLogger`.

use super::{python_repr, Callback, CallbackContext, Logs};
use crate::error::{Error, Result};
use crate::network::Network;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Streams each epoch's logs to a CSV file, byte for byte as Keras 3's
/// `CSVLogger` writes them: a header `epoch,<keys sorted by name>`, one row
/// per epoch with the zero-based epoch and Python's `repr` of each value
/// (`0.6931471824645996`, `1e-05`), `NA` for a missing value, Python's
/// `csv` "excel" dialect (fields quoted when needed, lines ending in
/// `\r\n`). The keys are fixed at the first epoch; when none starts with
/// `val_`, a `val_` column is added for each (filled with `NA`), as Keras
/// does. With `append`, rows are added to an existing file, with a header
/// only if the file is empty.
///
/// ```no_run
/// use kiln::train::CsvLogger;
/// let logger = CsvLogger::new("training.log").separator(';').append(true);
/// ```
#[derive(Debug)]
pub struct CsvLogger {
    filename: PathBuf,
    separator: char,
    append: bool,
    file: Option<File>,
    keys: Option<Vec<String>>,
    append_header: bool,
    /// The file is to be emptied before the first row (`append = false`).
    truncate_pending: bool,
}

impl CsvLogger {
    /// Keras's defaults: separator `,`, `append=false` (the file is replaced).
    pub fn new(filename: impl AsRef<Path>) -> Self {
        CsvLogger {
            filename: filename.as_ref().to_path_buf(),
            separator: ',',
            append: false,
            file: None,
            keys: None,
            append_header: true,
            truncate_pending: false,
        }
    }

    /// The field separator.
    pub fn separator(mut self, separator: char) -> Self {
        self.separator = separator;
        self
    }

    /// Append to an existing file instead of replacing it.
    pub fn append(mut self, append: bool) -> Self {
        self.append = append;
        self
    }

    /// Python's `csv` QUOTE_MINIMAL: quote a field holding the separator,
    /// a quote or a line break, doubling its quotes.
    fn field(&self, text: &str, line: &mut String) {
        if text.contains([self.separator, '"', '\r', '\n']) {
            line.push('"');
            line.push_str(&text.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(text);
        }
    }

    fn write_row(&mut self, fields: &[String]) -> Result<()> {
        let mut line = String::new();
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                line.push(self.separator);
            }
            self.field(f, &mut line);
        }
        line.push_str("\r\n");
        let io = |source| Error::Io { path: self.filename.clone(), source };
        let file = self.file.as_mut().expect("opened in on_train_begin");
        file.write_all(line.as_bytes()).map_err(io)?;
        file.flush().map_err(io)
    }
}

impl<N: Network> Callback<N> for CsvLogger {
    fn on_train_begin(&mut self, _: &mut CallbackContext<'_, N>) -> Result<()> {
        if matches!(self.separator, '"' | '\r' | '\n') {
            return Err(Error::InvalidArgument {
                name: "separator",
                reason: format!("{:?} cannot separate CSV fields", self.separator),
            });
        }
        let io = |source| Error::Io { path: self.filename.clone(), source };
        self.append_header = true;
        if self.append && self.filename.exists() {
            let mut first = String::new();
            BufReader::new(File::open(&self.filename).map_err(io)?).read_line(&mut first).map_err(io)?;
            self.append_header = first.is_empty();
        }
        // Opened without emptying it: a callback after this one may still
        // refuse its arguments, and training then never starts; the old
        // log is emptied (as Keras's `"w"` mode does) at the first row.
        self.file = Some(OpenOptions::new().create(true).append(true).open(&self.filename).map_err(io)?);
        self.truncate_pending = !self.append;
        self.keys = None;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, _: &mut CallbackContext<'_, N>) -> Result<()> {
        if self.file.is_none() {
            return Err(Error::InvalidArgument {
                name: "CsvLogger",
                reason: "on_epoch_end was called before on_train_begin opened the file".into(),
            });
        }
        if std::mem::take(&mut self.truncate_pending) {
            // Only a regular file can be (and needs to be) emptied: `/dev/stdout`
            // or a pipe refuses `set_len`, and `"w"` mode writes to them as they are.
            let file = self.file.as_ref().expect("checked above");
            let io = |source| Error::Io { path: self.filename.clone(), source };
            if file.metadata().map_err(io)?.is_file() {
                file.set_len(0).map_err(io)?;
            }
        }
        if self.keys.is_none() {
            let mut keys: Vec<String> = logs.iter().map(|(k, _)| k.to_string()).collect();
            // Python sorts strings by code point, as Rust does.
            keys.sort();
            if !keys.is_empty() && !keys.iter().any(|k| k.starts_with("val_")) {
                let val: Vec<String> = keys.iter().map(|k| format!("val_{k}")).collect();
                keys.extend(val);
            }
            let header: Vec<String> = std::iter::once("epoch".to_string()).chain(keys.iter().cloned()).collect();
            self.keys = Some(keys);
            if self.append_header {
                self.write_row(&header)?;
            }
        }
        let keys = self.keys.as_ref().expect("set above");
        let row: Vec<String> = std::iter::once(epoch.to_string())
            .chain(keys.iter().map(|k| logs.get(k).map_or_else(|| "NA".to_string(), |v| python_repr(v.into()))))
            .collect();
        self.write_row(&row)
    }

    fn on_train_end(&mut self, _: &Logs, _: &mut CallbackContext<'_, N>) -> Result<()> {
        self.file = None;
        Ok(())
    }
}
