//! The `kubernetes` provider (placeholder while it is written).
