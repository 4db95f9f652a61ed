//! Roster: user and seat management for multi-tenant CRM workspaces.

pub mod proto {
    //! Code generated from `proto/roster/v1` by `build.rs`.
    #![allow(clippy::all, missing_docs)]
    pub mod roster {
        pub mod v1 {
            tonic::include_proto!("roster.v1");
        }
    }
    pub use roster::v1;

    /// The encoded descriptor set of every Roster proto and its imports,
    /// served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/roster_descriptor.bin"));
}

pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod service;
pub mod store;
pub mod telemetry;
