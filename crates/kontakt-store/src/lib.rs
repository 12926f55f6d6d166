//! Narrow Store trait, its SQLite and PostgreSQL backends, and the contract suite both pass.
