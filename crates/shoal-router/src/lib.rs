//! shoal-router: which route a request takes, which upstream of a split it goes to, and how
//! its path is rewritten. Pure: no I/O. Depends on shoal-config's plain data types only.
