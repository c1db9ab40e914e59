/// Upper bound on backends one request or connection tries, whatever the config says.
pub const MAX_TRIES: usize = 12;

/// The backends one request (or TCP connection) has tried, so the next pick avoids them.
/// A fixed array: no allocation on the request path.
#[derive(Debug, Clone)]
pub struct Tried {
    indices: [usize; MAX_TRIES],
    len: usize,
}

impl Default for Tried {
    fn default() -> Self {
        Tried {
            indices: [usize::MAX; MAX_TRIES],
            len: 0,
        }
    }
}

impl Tried {
    /// How many backends were tried.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The tried indices.
    pub fn as_slice(&self) -> &[usize] {
        &self.indices[..self.len]
    }

    /// Records `index`; false when the bound is reached (the caller stops trying).
    pub fn push(&mut self, index: usize) -> bool {
        match self.indices.get_mut(self.len) {
            Some(slot) => {
                *slot = index;
                self.len += 1;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_up_to_the_bound() {
        let mut tried = Tried::default();
        assert!(tried.is_empty());
        for i in 0..MAX_TRIES {
            assert!(tried.push(i * 2));
        }
        assert!(!tried.push(99));
        assert_eq!(tried.len(), MAX_TRIES);
        assert_eq!(tried.as_slice()[3], 6);
    }
}
