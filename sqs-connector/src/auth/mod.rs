//! Authentication of the connector's requests to AWS.
//!
//! [`signing`] loads an X.509 certificate and its private key and signs AWS IAM Roles Anywhere
//! `CreateSession` requests with them.

pub mod cache;
pub mod session;
pub mod signing;
