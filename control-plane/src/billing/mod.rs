//! Money: the double-entry [`ledger`]. Plans, credit, invoices and payments
//! (issue 7) build on it.

pub mod ledger;
