//! Authentication of the connector's requests to AWS: access keys as they are, or AWS IAM Roles
//! Anywhere, where [`signing`] signs `CreateSession` with an X.509 certificate and its key,
//! [`session`] calls it, [`cache`] keeps the temporary credentials process-wide per connection
//! component, and [`roles_anywhere`] ties them into a credentials provider for `aws-sdk-sqs`.

pub mod cache;
pub mod roles_anywhere;
pub mod session;
pub mod signing;
