//! Replication status → admin protobuf messages.

use std::collections::BTreeMap;

use crdt::{RegionId, VersionVector};
use proto::admin::v1 as pb;
use replication::core::{LinkState, ReplicationStatus, SnapshotProgress};

/// A version vector as protobuf.
pub fn vv(v: &VersionVector) -> pb::VersionVector {
    pb::VersionVector {
        entries: v
            .iter()
            .filter(|&(_, n)| n > 0)
            .map(|(region, seq)| pb::VvEntry {
                region: region.into(),
                seq,
            })
            .collect(),
    }
}

/// A link state's name in the API.
pub fn link_state(s: LinkState) -> &'static str {
    match s {
        LinkState::Down => "down",
        LinkState::Handshaking => "handshaking",
        LinkState::Streaming => "streaming",
        LinkState::SendingSnapshot => "sending_snapshot",
        LinkState::SnapshotPending => "snapshot_pending",
    }
}

fn progress(p: &SnapshotProgress) -> pb::SnapshotProgress {
    pb::SnapshotProgress {
        keys: p.keys,
        db: p.db.into(),
        after_key: p
            .after
            .as_deref()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default(),
    }
}

/// The `Status` answer of a replicating region.
pub fn status(
    st: &ReplicationStatus,
    addresses: &BTreeMap<RegionId, Option<String>>,
) -> pb::StatusResponse {
    let ago = |t: u64| st.now_ms.saturating_sub(t);
    pb::StatusResponse {
        region: st.region.into(),
        replication_id: st.replication_id,
        writable: st.writable,
        recovering: st.recovering,
        applied: Some(vv(&st.applied)),
        durable: Some(vv(&st.durable)),
        stable: st.stable.as_ref().map(vv),
        log_entries: st.log_entries,
        log_bytes: st.log_bytes,
        log_oldest_age_ms: st.log_oldest_ms.map_or(0, ago),
        log_floor: Some(vv(&st.log_floor)),
        links: st
            .peers
            .iter()
            .map(|p| pb::Link {
                region: p.region.into(),
                address: addresses
                    .get(&p.region)
                    .cloned()
                    .flatten()
                    .unwrap_or_default(),
                state: link_state(p.link).to_string(),
                replication_id: p.replication_id.unwrap_or(0),
                lag_ops: p.lag_ops,
                lag_ms: p.lag_ms,
                acked_applied: Some(vv(&p.acked_applied)),
                acked_durable: Some(vv(&p.acked_durable)),
                last_heard_ago_ms: p.last_heard_ms.map(ago),
                inflight_bytes: p.inflight_bytes,
                partial_resyncs: p.partial_resyncs,
                full_resyncs_sent: p.full_resyncs_sent,
                full_resyncs_received: p.full_resyncs_received,
                sending_snapshot: p.sending_snapshot.as_ref().map(progress),
                receiving_snapshot: p.receiving_progress.as_ref().map(progress),
            })
            .collect(),
        removed_regions: st
            .removed
            .iter()
            .map(|&(region, cutoff, refused)| pb::RemovedRegion {
                region: region.into(),
                cutoff,
                refused,
            })
            .collect(),
        replication: true,
    }
}
