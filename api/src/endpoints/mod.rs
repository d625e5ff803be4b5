pub mod health;
pub mod jobs;
pub mod media;
pub mod queues;
