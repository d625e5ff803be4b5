pub mod api_keys;
pub mod auth;
pub mod health;
pub mod jobs;
pub mod media;
pub mod queues;
pub mod users;
