//! Run reports: a text summary and an HTML page with inline SVG plots (latency over time
//! with fault windows shaded, replication lag per link).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::checker::Results;
use crate::history::{Op, Outcome};
use crate::lag::LagSample;
use crate::nemesis::Applied;

/// Percentile `p` (0..=100) of sorted `v` (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `p50 p90 p99 max` of `v` as text.
pub fn pct_line(v: &[f64]) -> String {
    if v.is_empty() {
        return "n/a".into();
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    format!(
        "p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}  (n={})",
        percentile(&s, 50.0),
        percentile(&s, 90.0),
        percentile(&s, 99.0),
        s[s.len() - 1],
        s.len()
    )
}

/// Everything a report shows.
pub struct ReportData<'a> {
    /// Title line (command to replay).
    pub replay: String,
    /// Settings shown in the header.
    pub settings: Vec<(String, String)>,
    /// Ops.
    pub ops: &'a [Op],
    /// Fault timeline.
    pub timeline: &'a [Applied],
    /// Lag samples.
    pub lag: &'a [LagSample],
    /// Checker results.
    pub results: &'a Results,
    /// Time from heal to convergence, if it converged.
    pub converged_ms: Option<f64>,
    /// Convergence bound.
    pub converge_bound_ms: f64,
    /// Proxy counters per edge.
    pub proxy: Vec<(u8, u8, [u64; 5])>,
    /// Extra lines (drill results, notes).
    pub notes: Vec<String>,
}

impl ReportData<'_> {
    /// Whether the run found no anomaly.
    pub fn valid(&self) -> bool {
        self.results.anomalies.is_empty()
    }

    fn lag_by_link(&self) -> BTreeMap<(u8, u8), Vec<(f64, f64)>> {
        let mut m: BTreeMap<(u8, u8), Vec<(f64, f64)>> = BTreeMap::new();
        for s in self.lag {
            for p in &s.peers {
                m.entry((s.region, p.peer))
                    .or_default()
                    .push((s.t_ms, p.lag_ms as f64));
            }
        }
        m
    }

    /// The text summary.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let n = self.results.anomalies.len();
        let _ = writeln!(
            o,
            "verdict: {}",
            if n == 0 {
                "VALID (no anomaly)".to_string()
            } else {
                format!("INVALID ({n} anomalies)")
            }
        );
        for (k, v) in &self.settings {
            let _ = writeln!(o, "{k}: {v}");
        }
        let _ = writeln!(o, "replay: {}", self.replay);
        let _ = writeln!(o, "\nfault timeline ({} windows):", self.timeline.len());
        for a in self.timeline {
            let _ = writeln!(
                o,
                "  {:>8.1}s .. {:>8.1}s  {}{}",
                a.start_ms / 1000.0,
                a.end_ms / 1000.0,
                a.fault.describe(),
                a.error
                    .as_ref()
                    .map(|e| format!("  [error: {e}]"))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(o, "\noperations (ok / fail / info):");
        let mut by: BTreeMap<(&str, &str), [usize; 3]> = BTreeMap::new();
        for op in self.ops {
            let e = by.entry((op.workload, op.f)).or_default();
            e[match op.outcome {
                Outcome::Ok => 0,
                Outcome::Fail => 1,
                Outcome::Info => 2,
            }] += 1;
        }
        for ((w, f), c) in &by {
            let _ = writeln!(o, "  {w:<9} {f:<8} {:>7} / {:>6} / {:>6}", c[0], c[1], c[2]);
        }
        let _ = writeln!(o, "\nlatency of ok ops (ms):");
        let mut lat: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for op in self.ops.iter().filter(|o| o.ok()) {
            lat.entry(op.workload).or_default().push(op.latency_ms());
        }
        for (w, v) in &lat {
            let _ = writeln!(o, "  {w:<9} {}", pct_line(v));
        }
        let _ = writeln!(
            o,
            "\nreplication lag per link (ms, INFO lag_ms, region→peer):"
        );
        for ((a, b), v) in self.lag_by_link() {
            let v: Vec<f64> = v.into_iter().map(|x| x.1).collect();
            let _ = writeln!(o, "  {a}→{b}  {}", pct_line(&v));
        }
        let _ = writeln!(
            o,
            "\nconvergence after heal: {} (bound {:.0} ms)",
            self.converged_ms
                .map(|t| format!("{t:.0} ms"))
                .unwrap_or_else(|| "NOT CONVERGED".into()),
            self.converge_bound_ms
        );
        if !self.results.visibility_ms.is_empty() {
            let _ = writeln!(
                o,
                "set: time from SADD ack to visible in every region (ms): {}",
                pct_line(&self.results.visibility_ms)
            );
        }
        let _ = writeln!(
            o,
            "\nfault proxy per edge (received / forwarded / dropped / duplicated / reordered):"
        );
        for (a, b, s) in &self.proxy {
            let _ = writeln!(
                o,
                "  {a}→{b}  {} / {} / {} / {} / {}",
                s[0], s[1], s[2], s[3], s[4]
            );
        }
        let _ = writeln!(o, "\nchecker figures:");
        for (c, m) in &self.results.stats {
            for (k, v) in m {
                let _ = writeln!(o, "  {c}: {k} = {v}");
            }
        }
        for l in &self.notes {
            let _ = writeln!(o, "{l}");
        }
        if n > 0 {
            let _ = writeln!(o, "\nanomalies by kind:");
            for ((c, k), n) in self.results.counts() {
                let _ = writeln!(o, "  {c}/{k}: {n}");
            }
            let _ = writeln!(o, "\nfirst anomalies:");
            for a in self.results.anomalies.iter().take(50) {
                let _ = writeln!(o, "  [{}/{}] {}", a.checker, a.kind, a.detail);
            }
        }
        o
    }

    /// The HTML page.
    pub fn html(&self) -> String {
        let mut o = String::new();
        let end_ms = self
            .ops
            .iter()
            .map(|o| o.complete_ms)
            .chain(self.timeline.iter().map(|a| a.end_ms))
            .fold(1.0f64, f64::max);
        let _ = write!(
            o,
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>meridian-jepsen report</title>\
             <style>body{{font-family:sans-serif;margin:1.5em}}pre{{background:#f6f6f6;padding:1em}}\
             .valid{{color:#070}}.invalid{{color:#b00}}</style></head><body>"
        );
        let cls = if self.valid() { "valid" } else { "invalid" };
        let _ = write!(
            o,
            "<h1 class=\"{cls}\">{}</h1>",
            if self.valid() {
                "VALID".to_string()
            } else {
                format!("INVALID: {} anomalies", self.results.anomalies.len())
            }
        );
        let _ = write!(o, "<h2>Latency of client ops over time</h2><p>Shaded: fault windows (red partition, orange lossy/WAN, grey kill/pause, blue clock, purple injected bug). Dots: ok (black), fail (red), info/timeout (orange).</p>");
        o.push_str(&self.latency_svg(end_ms));
        let _ = write!(o, "<h2>Replication lag per link (INFO lag_ms)</h2>");
        o.push_str(&self.lag_svg(end_ms));
        let _ = write!(o, "<h2>Summary</h2><pre>{}</pre>", escape(&self.text()));
        o.push_str("</body></html>\n");
        o
    }

    fn shade(&self, o: &mut String, x: &dyn Fn(f64) -> f64, h: f64) {
        for a in self.timeline {
            let color = match a.fault.kind() {
                "partition" => "#f4b6b6",
                "wan" | "lossy" => "#f8d9a8",
                "kill" | "pause" => "#d0d0d0",
                "clock" => "#bcd3f2",
                _ => "#d8b8f0",
            };
            let (x0, x1) = (x(a.start_ms), x(a.end_ms.max(a.start_ms + 50.0)));
            let _ = write!(
                o,
                "<rect x=\"{x0:.1}\" y=\"0\" width=\"{:.1}\" height=\"{h}\" fill=\"{color}\" opacity=\"0.6\"><title>{}</title></rect>",
                (x1 - x0).max(1.0),
                escape(&a.fault.describe())
            );
        }
    }

    fn latency_svg(&self, end_ms: f64) -> String {
        let (w, h, pad) = (1000.0, 320.0, 40.0);
        let mut lat: Vec<f64> = self.ops.iter().map(|o| o.latency_ms()).collect();
        lat.sort_by(f64::total_cmp);
        let ymax = percentile(&lat, 99.9).max(1.0) * 1.1;
        let x = |t: f64| pad + (t / end_ms) * (w - 2.0 * pad);
        let y = |l: f64| h - pad - (l.min(ymax) / ymax) * (h - 2.0 * pad);
        let mut o =
            format!("<svg width=\"{w}\" height=\"{h}\" xmlns=\"http://www.w3.org/2000/svg\">");
        self.shade(&mut o, &x, h - pad);
        // Bounded number of points: sample evenly when there are too many.
        let step = (self.ops.len() / 20_000).max(1);
        for op in self.ops.iter().step_by(step) {
            let c = match op.outcome {
                Outcome::Ok => "#000",
                Outcome::Fail => "#c00",
                Outcome::Info => "#e80",
            };
            let _ = write!(
                o,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.3\" fill=\"{c}\"/>",
                x(op.invoke_ms),
                y(op.latency_ms())
            );
        }
        axes(&mut o, w, h, pad, end_ms, ymax, "latency ms");
        o.push_str("</svg>");
        o
    }

    fn lag_svg(&self, end_ms: f64) -> String {
        let (w, h, pad) = (1000.0, 320.0, 40.0);
        let links = self.lag_by_link();
        let ymax = links
            .values()
            .flat_map(|v| v.iter().map(|p| p.1))
            .fold(10.0f64, f64::max)
            * 1.1;
        let x = |t: f64| pad + (t / end_ms) * (w - 2.0 * pad);
        let y = |l: f64| h - pad - (l.min(ymax) / ymax) * (h - 2.0 * pad);
        let mut o =
            format!("<svg width=\"{w}\" height=\"{h}\" xmlns=\"http://www.w3.org/2000/svg\">");
        self.shade(&mut o, &x, h - pad);
        let palette = [
            "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf",
        ];
        for (i, ((a, b), pts)) in links.iter().enumerate() {
            let c = palette[i % palette.len()];
            let path: Vec<String> = pts
                .iter()
                .map(|(t, l)| format!("{:.1},{:.1}", x(*t), y(*l)))
                .collect();
            let _ = write!(
                o,
                "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"1.2\" points=\"{}\"/>\
                 <text x=\"{:.0}\" y=\"{:.0}\" font-size=\"11\" fill=\"{c}\">{a}→{b}</text>",
                path.join(" "),
                w - pad + 2.0 - 40.0,
                14.0 + 12.0 * i as f64
            );
        }
        axes(&mut o, w, h, pad, end_ms, ymax, "lag ms");
        o.push_str("</svg>");
        o
    }
}

fn axes(o: &mut String, w: f64, h: f64, pad: f64, end_ms: f64, ymax: f64, label: &str) {
    let _ = write!(
        o,
        "<line x1=\"{pad}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#333\"/>\
         <line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{0}\" stroke=\"#333\"/>\
         <text x=\"{pad}\" y=\"{2}\" font-size=\"11\">0 s</text>\
         <text x=\"{3}\" y=\"{2}\" font-size=\"11\">{4:.0} s</text>\
         <text x=\"2\" y=\"{5}\" font-size=\"11\">{6:.0}</text>\
         <text x=\"2\" y=\"{7}\" font-size=\"11\">{label}</text>",
        h - pad,
        w - pad,
        h - pad + 14.0,
        w - pad - 30.0,
        end_ms / 1000.0,
        pad + 4.0,
        ymax,
        pad - 10.0,
    );
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(|x| x as f64).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert!(pct_line(&[]).contains("n/a"));
    }
}
