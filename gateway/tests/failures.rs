//! Parts failing under real processes: a `redis-server` stopped and started
//! again under two gateways that share their limits through it; a private
//! PostgreSQL killed and restarted under a control plane and its gateway; a
//! private ClickHouse killed and restarted under a gateway shipping to it;
//! the control plane killed; the gateway killed (SIGKILL) under load; an
//! upstream that hangs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_testkit::clickhouse_server::TestClickHouse;
use aihub_testkit::postgres::TestPostgres;
use aihub_testkit::redis::TestRedis;
use aihub_testkit::upstream::{StubConfig, StubUpstream};
use common::{burst, prime, sample, tolerance, Stack};
use serde_json::json;
use std::time::{Duration, Instant};

/// `aihub_gateway_limit_store_errors_total` of the gateway whose operations
/// listener is on `ops`: decisions Redis could not make.
async fn store_errors(s: &Stack, ops: u16) -> u64 {
    sample(
        &s.metrics_on(ops).await,
        "aihub_gateway_limit_store_errors_total",
    ) as u64
}

/// Waits until the gateway on (`port`, `ops`) decides through Redis again:
/// a request whose decision adds no store error. `key` has no limit that
/// matters here.
async fn deciding_through_redis(s: &Stack, port: u16, ops: u16, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let before = store_errors(s, ops).await;
        let r = s
            .client
            .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "probe"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        if store_errors(s, ops).await == before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gateway {port} never used Redis again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A key of a new developer whose account allows `limit` requests a
/// minute (set by the admin CLI); returns its secret.
fn key_with_limit(s: &Stack, tag: &str, limit: usize) -> String {
    let (dev, _, key) = s.developer_with_key(&format!("{tag}@example.com"), &[]);
    s.aihub(&[
        "admin",
        "set-limits",
        &dev,
        "--rate-limit",
        &limit.to_string(),
    ]);
    key
}

/// Counts 200s and 429s of a burst; anything else fails the test.
fn tally(resps: &[reqwest::Response]) -> usize {
    let ok = resps.iter().filter(|r| r.status() == 200).count();
    let limited = resps.iter().filter(|r| r.status() == 429).count();
    assert_eq!(ok + limited, resps.len(), "only 200s and 429s expected");
    ok
}

#[tokio::test]
async fn with_redis_down_gateways_serve_on_local_limits_and_share_again_when_it_returns() {
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let s = Stack::start().await;
    s.add_provider("primary", "openai", &up.base_url(), "k");
    s.add_model("gpt-4o-mini", "primary", &[]);
    let mut redis = TestRedis::start_private().await.unwrap();
    let env = [
        ("AIHUB_GW_REDIS__URL", redis.url.as_str()),
        ("AIHUB_GW_REDIS__KEY_PREFIX", redis.prefix.as_str()),
        ("AIHUB_GW_REDIS__TIMEOUT_MS", "200"),
    ];
    let (_a, port_a, ops_a) = s
        .start_extra_gateway_with_ops("gw-a", s.cp_port, &env)
        .await;
    let (_b, port_b, ops_b) = s
        .start_extra_gateway_with_ops("gw-b", s.cp_port, &env)
        .await;
    let ports = [port_a, port_b];
    let (_, _, probe_key) = s.developer_with_key("redis-probe@example.com", &[]);
    const LIMIT: usize = 10;

    // Redis up: one limit for both gateways.
    let shared = key_with_limit(&s, "redis-up", LIMIT);
    for port in ports {
        prime(&s, port, &shared, LIMIT).await;
    }
    let (resps, elapsed) = burst(&s, &ports, &shared, 3 * LIMIT).await;
    let ok = tally(&resps) + ports.len();
    assert!(
        (LIMIT..=LIMIT + tolerance(LIMIT, elapsed)).contains(&ok),
        "Redis up: {ok} let through for one limit of {LIMIT}"
    );

    // Redis down: no request fails; each gateway enforces the limit alone
    // (as documented), so together they let up to twice the limit through.
    redis.stop();
    let alone = key_with_limit(&s, "redis-down", LIMIT);
    for port in ports {
        prime(&s, port, &alone, LIMIT).await;
    }
    let errors_before = store_errors(&s, ops_a).await + store_errors(&s, ops_b).await;
    let (resps, elapsed) = burst(&s, &ports, &alone, 3 * LIMIT).await;
    let ok = tally(&resps) + ports.len();
    let most = 2 * (LIMIT + tolerance(LIMIT, elapsed));
    assert!(
        (2 * LIMIT..=most).contains(&ok),
        "Redis down: {ok} let through; each gateway alone allows {LIMIT}"
    );
    let errors_after = store_errors(&s, ops_a).await + store_errors(&s, ops_b).await;
    assert!(
        errors_after >= errors_before + resps.len() as u64,
        "every decision while Redis was down is counted: {errors_before} -> {errors_after}"
    );

    // Redis back (empty): both gateways decide through it again and share
    // one limit, with nothing restarted on their side.
    redis.restart().await.unwrap();
    deciding_through_redis(&s, port_a, ops_a, &probe_key).await;
    deciding_through_redis(&s, port_b, ops_b, &probe_key).await;
    let again = key_with_limit(&s, "redis-back", LIMIT);
    for port in ports {
        prime(&s, port, &again, LIMIT).await;
    }
    let (resps, elapsed) = burst(&s, &ports, &again, 3 * LIMIT).await;
    let ok = tally(&resps) + ports.len();
    assert!(
        (LIMIT..=LIMIT + tolerance(LIMIT, elapsed)).contains(&ok),
        "Redis back: {ok} let through for one limit of {LIMIT}"
    );
}

#[tokio::test]
async fn with_postgres_down_the_control_plane_answers_503_and_recovers_while_gateways_serve() {
    let mut pg = TestPostgres::start().await.unwrap();
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let mut s = Stack::start_on_postgres(&pg.url(), &[]).await;
    s.add_provider("primary", "openai", &up.base_url(), "k");
    s.add_model("gpt-4o-mini", "primary", &[]);
    s.start_gateway().await;
    let (_, _, key, token) = s
        .developer_session(s.gw_port, "pg-down@example.com", &[])
        .await;
    let hello = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]});
    let first = s.wait_for_status(s.gw_port, &key, &hello, 200).await;
    let mut answered = vec![first.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string()];
    let profile = || {
        s.client
            .get(s.url("/api/v1/developer/profile"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(profile().await.unwrap().status(), 200);

    // PostgreSQL goes away: the management API says so clearly, in its
    // error shape, with a time to retry; readiness fails.
    pg.kill();
    let deadline = Instant::now() + Duration::from_secs(60);
    let refused = loop {
        let r = profile().await.unwrap();
        if r.status() == 503 {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "never 503 while PostgreSQL is down (last {})",
            r.status()
        );
    };
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("database cannot be reached"),
        "{body}"
    );
    let ready = s
        .client
        .get(format!("http://127.0.0.1:{}/readyz", s.cp_port))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);

    // Meanwhile the gateway serves from its snapshot and spools the usage.
    for i in 0..5 {
        let r = s
            .post(
                "/v1/chat/completions",
                &key,
                json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": format!("during {i}")}]}),
            )
            .await;
        assert_eq!(r.status(), 200);
        answered.push(r.headers()["x-request-id"].to_str().unwrap().to_string());
    }

    // PostgreSQL is back: the control plane recovers by itself, and every
    // answered request's usage row arrives, once.
    pg.restart().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = profile().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the control plane never recovered (last {})",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = s.wait_usage_rows(answered.len()).await;
    for id in &answered {
        assert_eq!(
            rows.iter().filter(|r| &r.request_id == id).count(),
            1,
            "usage row of {id}"
        );
    }
    s.stop_control_plane();
}

/// The request id of an answer.
fn request_id(r: &reqwest::Response) -> String {
    r.headers()["x-request-id"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn with_the_control_plane_down_gateways_serve_from_their_snapshot_and_catch_up() {
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let mut s = Stack::start().await;
    s.add_provider("primary", "openai", &up.base_url(), "k");
    s.add_model("gpt-4o-mini", "primary", &[]);
    s.start_gateway().await;
    let (_, key_id, key) = s.developer_with_key("cp-down@example.com", &[]);
    let hello = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]});
    let first = s.wait_for_status(s.gw_port, &key, &hello, 200).await;
    let mut answered = vec![request_id(&first)];

    // The control plane dies: the gateway goes on serving.
    s.kill_control_plane();
    for _ in 0..5 {
        let r = s.post("/v1/chat/completions", &key, hello.clone()).await;
        assert_eq!(r.status(), 200);
        answered.push(request_id(&r));
    }
    // A gateway restarted while the control plane is away (stopped with
    // SIGTERM, which flushes its spool) serves from the snapshot it kept on
    // disk.
    s.gateway().terminate(Duration::from_secs(15)).unwrap();
    s.gw = None;
    s.start_gateway().await;
    let r = s.post("/v1/chat/completions", &key, hello.clone()).await;
    assert_eq!(r.status(), 200);
    answered.push(request_id(&r));

    // A change made while it was away (the key disabled on the database)
    // reaches the gateway once the control plane is back.
    s.aihub(&["admin", "disable-key", &key_id]);
    s.start_control_plane().await;
    s.wait_for_status(s.gw_port, &key, &hello, 401).await;

    // Every answered request's usage row arrives, once.
    s.wait_rows_of(&answered).await;
}

/// One client of the crash test: sends plain and streamed chat requests
/// back to back until the gateway is gone, and returns the request ids of
/// the responses it received whole (a streamed one up to `[DONE]` and the
/// end of its body).
async fn client_until_the_gateway_dies(
    client: reqwest::Client,
    url: String,
    key: String,
    n: usize,
    answered: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    enough: std::sync::Arc<tokio::sync::Notify>,
) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0.. {
        let stream = (i + n).is_multiple_of(2);
        let body = json!({
            "model": "gpt-4o-mini",
            "stream": stream,
            "messages": [{"role": "user", "content": format!("client {n} request {i} [[stub words=12]]")}],
        });
        let Ok(resp) = client.post(&url).bearer_auth(&key).json(&body).send().await else {
            break;
        };
        assert_eq!(resp.status(), 200);
        let id = request_id(&resp);
        let Ok(text) = resp.text().await else { break };
        if stream {
            assert!(text.contains("data: [DONE]"), "{text}");
        } else {
            let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert!(answer["usage"]["total_tokens"].as_u64() > Some(0), "{text}");
        }
        ids.push(id);
        if answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == 300 {
            enough.notify_one();
        }
    }
    ids
}

/// SIGKILL under load with `spool.durability` set to `durability`: every
/// response a client received has its usage row once, charged once. (With
/// `off` this fails: the rows of the last flush interval are lost.)
async fn kill_under_load_and_count_rows(durability: &str) {
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let mut s = Stack::start().await;
    s.add_provider("primary", "openai", &up.base_url(), "k");
    s.add_model("gpt-4o-mini", "primary", &[]);
    s.gateway_env
        .push(("AIHUB_GW_SPOOL__DURABILITY".into(), durability.into()));
    s.start_gateway().await;
    let (dev, _, key) = s.developer_with_key("crash@example.com", &[]);
    s.aihub(&["admin", "billing", "grant", &dev, "100.00"]);
    let hello = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]});
    let first = s.wait_for_status(s.gw_port, &key, &hello, 200).await;
    let mut answered = vec![request_id(&first)];

    // Sixteen clients keep the gateway busy; once 300 responses are in,
    // SIGKILL, with requests in flight, some of them in their last bytes.
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let enough = std::sync::Arc::new(tokio::sync::Notify::new());
    let clients: Vec<_> = (0..16)
        .map(|n| {
            tokio::spawn(client_until_the_gateway_dies(
                s.client.clone(),
                s.url("/v1/chat/completions"),
                key.clone(),
                n,
                count.clone(),
                enough.clone(),
            ))
        })
        .collect();
    enough.notified().await;
    s.gateway().kill();
    s.gw = None;
    for c in clients {
        answered.extend(c.await.unwrap());
    }
    assert!(answered.len() > 300, "{}", answered.len());

    // The restarted gateway ships what its predecessor left in the spool:
    // every response a client received has its row, once, and is charged.
    s.start_gateway().await;
    let rows = s.wait_rows_of(&answered).await;
    s.reconciled(Some(rows.len() as i64)).await;
}

#[tokio::test]
async fn killing_the_gateway_under_load_loses_no_row_of_an_answered_request() {
    // The default: each request writes its row to the spool file itself.
    kill_under_load_and_count_rows("write").await;
}

#[tokio::test]
async fn killing_the_gateway_under_load_with_fsync_rows_loses_none_either() {
    kill_under_load_and_count_rows("fsync").await;
}

#[tokio::test]
async fn a_hanging_upstream_times_out_and_the_request_falls_back_charged_once() {
    // The primary answers after 30 s; its deployment gives it 300 ms.
    let hanging = StubUpstream::start(StubConfig {
        latency_ms: 30_000,
        ..StubConfig::named("hanging")
    })
    .unwrap();
    let good = StubUpstream::start(StubConfig::named("good")).unwrap();
    let mut s = Stack::start().await;
    s.add_provider("hanging", "openai", &hanging.base_url(), "k1");
    s.add_provider("good", "openai", &good.base_url(), "k2");
    let hanging_dep = s.add_model(
        "gpt-4o-mini",
        "hanging",
        &["--priority", "0", "--timeout-ms", "300"],
    );
    let good_dep = s.add_model("gpt-4o-mini", "good", &["--priority", "1"]);
    // The key exists before the gateway's first snapshot: no refused
    // request (and no row of one) while waiting for it.
    let (_, _, key) = s.developer_with_key("hang@example.com", &[]);
    s.start_gateway().await;
    let body = json!({"model": "gpt-4o-mini",
                      "messages": [{"role": "user", "content": "x y [[stub words=3]]"}]});
    let r = s.post("/v1/chat/completions", &key, body).await;
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let answer: serde_json::Value = r.json().await.unwrap();
    assert_eq!(answer["system_fingerprint"], "good");
    let rows = s.wait_usage_rows(1).await;
    let row = rows.iter().find(|r| r.request_id == id).unwrap();
    assert_eq!(row.attempts, 2, "the hanging attempt, then the fallback");
    assert_eq!(row.deployment_id, good_dep);
    assert!(row.completion_tokens > 0 && row.cost_nanos > 0);
    let metrics = s.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("aihub_gateway_upstream_errors_total")
                && l.contains(&hanging_dep)
                && l.contains("timeout")),
        "the timeout is counted against the hanging deployment:\n{metrics}"
    );
}

/// How many usage rows per request id the ClickHouse database holds.
async fn clickhouse_counts(url: &str, db: &str) -> std::collections::BTreeMap<String, u64> {
    let text = aihub_testkit::clickhouse::query(
        url,
        &format!(
            "SELECT request_id, count() FROM {db}.usage_records GROUP BY request_id FORMAT TSV"
        ),
    )
    .await
    .unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (id, n) = l.split_once('\t')?;
            Some((id.to_string(), n.parse().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn with_clickhouse_down_usage_waits_in_the_spool_and_ships_once_when_it_returns() {
    let mut ch = TestClickHouse::start().await.unwrap();
    let db = aihub_testkit::procs::unique_name("ch_down");
    aihub_testkit::clickhouse::apply_schema(&ch.url, &db)
        .await
        .unwrap();
    let up = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let s = Stack::start().await;
    s.add_provider("primary", "openai", &up.base_url(), "k");
    s.add_model("gpt-4o-mini", "primary", &[]);
    let (_, _, key) = s.developer_with_key("ch-down@example.com", &[]);
    let (_gw, port, ops) = s
        .start_extra_gateway_with_ops(
            "gw-ch",
            s.cp_port,
            &[
                ("AIHUB_GW_CLICKHOUSE__URL", ch.url.as_str()),
                ("AIHUB_GW_CLICKHOUSE__DATABASE", db.as_str()),
            ],
        )
        .await;
    let hello = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]});
    let send = || {
        s.client
            .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&hello)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 200);
    let mut answered = vec![request_id(&first)];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !clickhouse_counts(&ch.url, &db)
        .await
        .contains_key(&answered[0])
    {
        assert!(Instant::now() < deadline, "the first row never shipped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // ClickHouse dies: requests are still answered, their rows wait in the
    // spool (the gateway's spool-depth gauge shows them).
    ch.kill();
    for _ in 0..5 {
        let r = send().await.unwrap();
        assert_eq!(r.status(), 200);
        answered.push(request_id(&r));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let depth = sample(&s.metrics_on(ops).await, "aihub_gateway_spool_depth_rows");
        if depth >= 5.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the unshipped rows never showed in the spool depth ({depth})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // ClickHouse is back: every row ships, once, with nothing restarted on
    // the gateway's side.
    ch.restart().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let counts = loop {
        let counts = clickhouse_counts(&ch.url, &db).await;
        if answered.iter().all(|id| counts.contains_key(id)) {
            break counts;
        }
        assert!(
            Instant::now() < deadline,
            "rows never all shipped: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for id in &answered {
        assert_eq!(counts[id], 1, "row {id} stored {} times", counts[id]);
    }
    assert_eq!(counts.len(), answered.len(), "no row without an answer");
}
