//! The admin calls.

use std::sync::Arc;

use crdt::RegionId;
use proto::admin::v1 as pb;
use proto::admin::v1::admin_server::Admin;
use replication::core::LinkState;
use replication::net::region_dns_name;
use tonic::{Request, Response, Status};
use tracing::info;

use crate::admin::convert;
use crate::repl::MembershipChangeError;
use crate::server::ServerState;

/// The `Admin` service of one region.
pub struct AdminService {
    state: Arc<ServerState>,
}

impl AdminService {
    /// The service over the region's state.
    pub fn new(state: Arc<ServerState>) -> AdminService {
        AdminService { state }
    }

    fn repl(&self) -> Result<&Arc<crate::repl::Replication>, Status> {
        self.state.repl.get().ok_or_else(|| {
            Status::failed_precondition("replication is off in this region (repl-port is 0)")
        })
    }
}

fn region_id(v: u32, what: &str) -> Result<RegionId, Status> {
    RegionId::try_from(v)
        .ok()
        .filter(|&r| r != 0)
        .ok_or_else(|| Status::invalid_argument(format!("{what}: region id must be 1..=255")))
}

fn change_error(e: MembershipChangeError) -> Status {
    match e {
        MembershipChangeError::Invalid(m) => Status::invalid_argument(m),
        MembershipChangeError::NotSpread(m) => Status::failed_precondition(m),
        MembershipChangeError::Net(m) => Status::internal(m),
        MembershipChangeError::Store(e) => Status::internal(e.to_string()),
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn status(
        &self,
        _req: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let Some(repl) = self.state.repl.get() else {
            let st = self.state.store.lock();
            let applied = convert::vv(st.keyspace().applied());
            return Ok(Response::new(pb::StatusResponse {
                region: self.state.config().region_id as u32,
                writable: true,
                applied: Some(applied.clone()),
                durable: Some(applied),
                replication: false,
                ..Default::default()
            }));
        };
        let addresses = repl.peer_addresses().await;
        let st = {
            let store = self.state.store.lock();
            let core = repl.core.lock();
            core.status(&*store)
        };
        Ok(Response::new(convert::status(&st, &addresses)))
    }

    async fn health(
        &self,
        _req: Request<pb::HealthRequest>,
    ) -> Result<Response<pb::HealthResponse>, Status> {
        let region = self.state.config().region_id as u32;
        let Some(repl) = self.state.repl.get() else {
            return Ok(Response::new(pb::HealthResponse {
                live: true,
                ready: true,
                region,
                links_up: 0,
                links_total: 0,
            }));
        };
        let st = {
            let store = self.state.store.lock();
            let core = repl.core.lock();
            core.status(&*store)
        };
        let up = st
            .peers
            .iter()
            .filter(|p| !matches!(p.link, LinkState::Down | LinkState::Handshaking))
            .count();
        Ok(Response::new(pb::HealthResponse {
            live: true,
            ready: repl.writable(),
            region,
            links_up: up as u32,
            links_total: st.peers.len() as u32,
        }))
    }

    async fn add_region(
        &self,
        req: Request<pb::AddRegionRequest>,
    ) -> Result<Response<pb::AddRegionResponse>, Status> {
        let req = req.into_inner();
        let id = region_id(req.region, "region")?;
        let want = region_dns_name(id);
        if !req.certificate_name.is_empty() && req.certificate_name != want {
            return Err(Status::invalid_argument(format!(
                "certificate names bind to region ids: region {id} must present {want}, not {}",
                req.certificate_name
            )));
        }
        let addr = (!req.address.is_empty()).then_some(req.address);
        if addr.as_ref().is_some_and(|a| a.len() > 256) {
            return Err(Status::invalid_argument("address longer than 256 bytes"));
        }
        let added = self
            .repl()?
            .add_region(&self.state, id, addr)
            .await
            .map_err(change_error)?;
        info!(region = id, added, "admin: add-region");
        Ok(Response::new(pb::AddRegionResponse { added }))
    }

    async fn remove_region(
        &self,
        req: Request<pb::RemoveRegionRequest>,
    ) -> Result<Response<pb::RemoveRegionResponse>, Status> {
        let req = req.into_inner();
        let id = region_id(req.region, "region")?;
        let cutoff = self
            .repl()?
            .remove_region(&self.state, id, req.purge, req.force)
            .await
            .map_err(change_error)?;
        info!(
            region = id,
            ?cutoff,
            purge = req.purge,
            force = req.force,
            "admin: remove-region"
        );
        Ok(Response::new(pb::RemoveRegionResponse {
            removed: cutoff.is_some(),
            cutoff: cutoff.unwrap_or(0),
        }))
    }

    async fn flush(
        &self,
        _req: Request<pb::FlushRequest>,
    ) -> Result<Response<pb::FlushResponse>, Status> {
        if self.state.repl.get().is_some_and(|r| !r.writable()) {
            return Err(Status::failed_precondition(
                "this region is catching up with its peers; writes (and flush) are refused until it has",
            ));
        }
        let n = self.state.databases();
        let mut st = self.state.store.lock();
        let mut removed = 0u64;
        // What FLUSHALL does: an observed-remove delete of every key, replicated.
        for db in 0..n {
            removed += st.dbsize(db as u8) as u64;
            st.flush_db(db as u8);
        }
        drop(st);
        info!(keys = removed, "admin: flush");
        Ok(Response::new(pb::FlushResponse {
            keys_removed: removed,
        }))
    }
}
