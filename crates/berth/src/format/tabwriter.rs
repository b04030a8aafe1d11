//! A port of Go's `text/tabwriter` (the elastic-tabstop algorithm docker's tables use),
//! restricted to what docker needs: space padding, left alignment, no escapes.

/// One tab- or newline-terminated segment of text.
#[derive(Clone, Copy, Default)]
struct Cell {
    size: usize,
    width: usize,
    htab: bool,
}

pub struct TabWriter {
    minwidth: usize,
    tabwidth: usize,
    padding: usize,
    padchar: char,
    buf: String,
    lines: Vec<Vec<Cell>>,
    cell: Cell,
    widths: Vec<usize>,
    out: String,
}

impl TabWriter {
    /// Same parameters as Go's `tabwriter.NewWriter(out, minwidth, tabwidth, padding, padchar, 0)`.
    pub fn new(minwidth: usize, tabwidth: usize, padding: usize, padchar: char) -> TabWriter {
        TabWriter {
            minwidth,
            tabwidth,
            padding,
            padchar,
            buf: String::new(),
            lines: vec![Vec::new()],
            cell: Cell::default(),
            widths: Vec::new(),
            out: String::new(),
        }
    }

    /// Docker's table writer: `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
    pub fn docker_table() -> TabWriter {
        TabWriter::new(10, 1, 3, ' ')
    }

    /// Formats `text` completely (as Write + Flush would) and returns the result.
    pub fn format_all(mut self, text: &str) -> String {
        self.write(text);
        self.flush();
        self.out
    }

    pub fn write(&mut self, text: &str) {
        let mut start = 0;
        for (i, ch) in text.char_indices() {
            match ch {
                '\t' | '\x0b' | '\n' | '\x0c' => {
                    self.append(&text[start..i]);
                    start = i + 1;
                    let ncells = self.terminate_cell(ch == '\t');
                    if ch == '\n' || ch == '\x0c' {
                        self.lines.push(Vec::new());
                        // A line with a single cell cannot influence the columns of the
                        // following lines, so the block ends here (Go flushes too).
                        if ch == '\x0c' || ncells == 1 {
                            self.flush_internal();
                        }
                    }
                }
                _ => {}
            }
        }
        self.append(&text[start..]);
    }

    pub fn flush(&mut self) {
        if self.cell.size > 0 {
            self.terminate_cell(false);
        }
        self.flush_internal();
    }

    fn append(&mut self, text: &str) {
        self.buf.push_str(text);
        self.cell.size += text.len();
        self.cell.width += text_width(text);
    }

    fn terminate_cell(&mut self, htab: bool) -> usize {
        self.cell.htab = htab;
        let line = self.lines.last_mut().expect("at least one line");
        line.push(self.cell);
        self.cell = Cell::default();
        line.len()
    }

    fn flush_internal(&mut self) {
        self.format(0, 0, self.lines.len());
        self.buf.clear();
        self.lines = vec![Vec::new()];
        self.cell = Cell::default();
        self.widths.clear();
    }

    fn write_padding(&mut self, textw: usize, cellw: usize) {
        let _ = self.tabwidth;
        for _ in textw..cellw {
            self.out.push(self.padchar);
        }
    }

    fn write_lines(&mut self, mut pos: usize, line0: usize, line1: usize) -> usize {
        for i in line0..line1 {
            let line = self.lines[i].clone();
            for (j, c) in line.iter().enumerate() {
                if c.size == 0 {
                    if j < self.widths.len() {
                        self.write_padding(c.width, self.widths[j]);
                    }
                } else {
                    let text = self.buf[pos..pos + c.size].to_string();
                    self.out.push_str(&text);
                    pos += c.size;
                    if j < self.widths.len() {
                        self.write_padding(c.width, self.widths[j]);
                    }
                }
            }
            if i + 1 == self.lines.len() {
                // Last buffered line has no newline: emit any pending cell text.
                let text = self.buf[pos..pos + self.cell.size].to_string();
                self.out.push_str(&text);
                pos += self.cell.size;
            } else {
                self.out.push('\n');
            }
        }
        pos
    }

    fn format(&mut self, pos0: usize, line0: usize, line1: usize) -> usize {
        let mut pos = pos0;
        let mut line0 = line0;
        let column = self.widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= self.lines[this].len() {
                this += 1;
                continue;
            }
            // This line has a cell in `column`: print what precedes the block.
            pos = self.write_lines(pos, line0, this);
            line0 = this;

            let mut width = self.minwidth;
            let mut discardable = true;
            while this < line1 {
                let line = &self.lines[this];
                if column + 1 >= line.len() {
                    break;
                }
                let c = line[column];
                width = width.max(c.width + self.padding);
                if c.width > 0 || c.htab {
                    discardable = false;
                }
                this += 1;
            }
            let _ = discardable; // DiscardEmptyColumns is never set by docker.

            self.widths.push(width);
            pos = self.format(pos, line0, this);
            self.widths.pop();
            line0 = this;
        }
        self.write_lines(pos, line0, line1)
    }
}

/// Display width of `s`, counting East Asian wide characters as two columns as
/// docker's tabwriter (go-runewidth) does.
pub fn text_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

fn char_width(c: char) -> usize {
    let cp = c as u32;
    let wide = matches!(cp,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD);
    if wide {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns_like_docker() {
        let text = "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\nbusybox\tlatest\tabcdef012345\t2 years ago\t4.26MB\n";
        let out = TabWriter::docker_table().format_all(text);
        assert_eq!(
            out,
            "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n\
             busybox      latest    abcdef012345   2 years ago   4.26MB\n"
        );
    }

    #[test]
    fn single_cell_line_ends_block() {
        let text = "a\tb\nsingle line\nlonger-cell\tc\n";
        let out = TabWriter::docker_table().format_all(text);
        assert_eq!(out, "a         b\nsingle line\nlonger-cell   c\n");
    }

    #[test]
    fn trailing_text_without_newline() {
        let out = TabWriter::new(20, 1, 1, ' ').format_all("Version:\t1.0\n Tail");
        assert_eq!(out, "Version:            1.0\n Tail");
    }

    #[test]
    fn empty_cells_are_padded() {
        let out = TabWriter::docker_table().format_all("A\t\tC\nxx\tyy\tzz\n");
        assert_eq!(out, "A                   C\nxx        yy        zz\n");
    }

    #[test]
    fn wide_chars_count_double() {
        assert_eq!(text_width("日本"), 4);
        assert_eq!(text_width("abc"), 3);
    }
}
