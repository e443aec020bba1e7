//! Compressed sparse row matrices: the feature matrices the learned router trains on.
//!
//! TF-IDF rows over 1-2 grams have tens of non-zeros out of ~10^5 columns; a dense copy of a
//! benchmark would need gigabytes, so training works on rows stored as (column, value) runs.

/// A row-major sparse matrix. Invariant: `indptr` has `n_rows + 1` non-decreasing entries
/// ending at `indices.len() == data.len()`, and every column index is below `n_cols`.
#[derive(Debug, Clone, PartialEq)]
pub struct CsrMatrix {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    data: Vec<f64>,
    n_cols: usize,
}

impl CsrMatrix {
    /// An empty matrix with `n_cols` columns, ready for [`CsrMatrix::push_row`].
    pub fn new(n_cols: usize) -> Self {
        Self {
            indptr: vec![0],
            indices: Vec::new(),
            data: Vec::new(),
            n_cols,
        }
    }

    /// Appends a row; entries whose column is out of range are dropped so the invariant holds.
    pub fn push_row(&mut self, entries: &[(u32, f64)]) {
        for &(column, value) in entries {
            if (column as usize) < self.n_cols {
                self.indices.push(column);
                self.data.push(value);
            }
        }
        self.indptr.push(self.indices.len());
    }

    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Columns and values of row `row`; empty when `row` is out of range.
    pub fn row(&self, row: usize) -> (&[u32], &[f64]) {
        match (self.indptr.get(row), self.indptr.get(row + 1)) {
            (Some(&start), Some(&end)) => (&self.indices[start..end], &self.data[start..end]),
            _ => (&[], &[]),
        }
    }

    /// `x_row . weights`, reading only the row's non-zeros.
    pub fn dot_row(&self, row: usize, weights: &[f64]) -> f64 {
        let (columns, values) = self.row(row);
        columns
            .iter()
            .zip(values)
            .map(|(&c, &v)| weights.get(c as usize).map_or(0.0, |w| w * v))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_dot_products_use_only_non_zeros() {
        let mut m = CsrMatrix::new(4);
        m.push_row(&[(0, 1.0), (3, 2.0)]);
        m.push_row(&[]);
        m.push_row(&[(1, -1.0), (9, 5.0)]);
        assert_eq!(m.n_rows(), 3);
        assert_eq!(m.row(0), (&[0u32, 3][..], &[1.0, 2.0][..]));
        assert_eq!(m.row(1).0.len(), 0);
        assert_eq!(
            m.row(2),
            (&[1u32][..], &[-1.0][..]),
            "out-of-range column dropped"
        );
        let w = [0.5, 2.0, 0.0, 1.0];
        assert_eq!(m.dot_row(0, &w), 2.5);
        assert_eq!(m.dot_row(2, &w), -2.0);
        assert_eq!(m.dot_row(7, &w), 0.0);
    }
}
