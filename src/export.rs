//! CSV as onecard writes it, for every export (card desk reports, door events): one copy of
//! the rules a spreadsheet reader relies on.
//!
//! * UTF-8 with a byte-order mark: Excel on a Chinese Windows PC otherwise reads the file as
//!   GBK and garbles every name.
//! * A header line, then data rows only. Totals are never a row among the data (a sort or a
//!   sum in the spreadsheet would take them for data); the caller shows them beside the file.
//! * Money as [`Money::csv`] writes it (`0.00`, `12.50`), times in local time
//!   ([`local_time`]).
//! * A file is never overwritten unless the caller says so ([`Existing::Overwrite`], which the
//!   console passes only after asking). It is written beside its name (`<name>.part`) and
//!   takes the name only when complete, so a failed export leaves neither a half file nor a
//!   clobbered one.

use chrono::{DateTime, NaiveDateTime, Utc};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The UTF-8 byte-order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The file is there already and the caller did not say to overwrite it.
    #[error("{} exists already", .0.display())]
    Exists(PathBuf),
    #[error("cannot write {}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
}

impl From<csv::Error> for ExportError {
    fn from(e: csv::Error) -> Self {
        match e.into_kind() {
            csv::ErrorKind::Io(e) => ExportError::Io(e),
            // The writer raises nothing else for records of strings.
            other => ExportError::Io(std::io::Error::other(format!("{other:?}"))),
        }
    }
}

/// What to do when the file is there already.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Existing {
    /// Refuse ([`ExportError::Exists`]): the default.
    #[default]
    Refuse,
    /// Replace it (the operator said so).
    Overwrite,
}

/// A moment in local time, to the second.
pub fn local_time(t: DateTime<Utc>) -> String {
    crate::domain::time::local(t)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A terminal's own clock reading (already local), to the second.
pub fn terminal_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A CSV stream: the byte-order mark and the header first, then rows as they come.
pub struct Csv<W: Write> {
    out: csv::Writer<W>,
    columns: usize,
    rows: u64,
}

impl<W: Write> Csv<W> {
    pub fn new<S: AsRef<str>>(mut writer: W, header: &[S]) -> Result<Csv<W>, ExportError> {
        writer.write_all(BOM)?;
        let mut out = csv::Writer::from_writer(writer);
        out.write_record(header.iter().map(|h| h.as_ref()))?;
        Ok(Csv {
            out,
            columns: header.len(),
            rows: 0,
        })
    }

    /// One data row, a cell per header column.
    pub fn row<I, S>(&mut self, cells: I) -> Result<(), ExportError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        self.out.write_record(cells)?;
        self.rows += 1;
        Ok(())
    }

    /// Data rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn columns(&self) -> usize {
        self.columns
    }

    /// Flushes and hands the writer back (a [`CsvFile`] is then committed).
    pub fn finish(self) -> Result<W, ExportError> {
        self.out
            .into_inner()
            .map_err(|e| ExportError::Io(e.into_error()))
    }
}

/// A file being exported: written to `<path>.part`, given its name by [`CsvFile::commit`].
/// Dropped without a commit (an error on the way), the part file is removed.
pub struct CsvFile {
    path: PathBuf,
    part: PathBuf,
    existing: Existing,
    writer: Option<BufWriter<File>>,
}

impl CsvFile {
    /// Refuses at once when `path` exists and `existing` is [`Existing::Refuse`], before any
    /// work is done.
    pub fn create(path: &Path, existing: Existing) -> Result<CsvFile, ExportError> {
        if existing == Existing::Refuse && path.symlink_metadata().is_ok() {
            return Err(ExportError::Exists(path.to_path_buf()));
        }
        let mut part = path.as_os_str().to_owned();
        part.push(".part");
        let part = PathBuf::from(part);
        let file = File::create(&part).map_err(|source| ExportError::File {
            path: part.clone(),
            source,
        })?;
        Ok(CsvFile {
            path: path.to_path_buf(),
            part,
            existing,
            writer: Some(BufWriter::new(file)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Gives the complete file its name. Without overwrite, the name is claimed with
    /// `create_new` first, so a file someone put there meanwhile is still never replaced.
    pub fn commit(mut self) -> Result<PathBuf, ExportError> {
        let Some(writer) = self.writer.take() else {
            return Err(ExportError::Io(std::io::Error::other(
                "the export was already committed",
            )));
        };
        let named = self.name(writer);
        if named.is_err() {
            let _ = std::fs::remove_file(&self.part);
        }
        named
    }

    fn name(&self, writer: BufWriter<File>) -> Result<PathBuf, ExportError> {
        let file = writer
            .into_inner()
            .map_err(|e| ExportError::Io(e.into_error()))?;
        file.sync_all()?;
        drop(file);
        let named = |source| ExportError::File {
            path: self.path.clone(),
            source,
        };
        if self.existing == Existing::Refuse {
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&self.path)
            {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(ExportError::Exists(self.path.clone()))
                }
                Err(e) => return Err(named(e)),
            }
        }
        std::fs::rename(&self.part, &self.path).map_err(named)?;
        Ok(self.path.clone())
    }
}

impl Write for CsvFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.writer {
            Some(w) => w.write(buf),
            None => Err(std::io::Error::other("the export was already committed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.writer {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for CsvFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.part);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_starts_with_the_bom_and_the_header() {
        let mut csv = Csv::new(Vec::new(), &["name", "amount"]).unwrap();
        csv.row(["张三", "1,5"]).unwrap();
        assert_eq!(csv.rows(), 1);
        let bytes = csv.finish().unwrap();
        assert_eq!(
            bytes,
            "\u{feff}name,amount\n张三,\"1,5\"\n".as_bytes().to_vec()
        );
    }
}
