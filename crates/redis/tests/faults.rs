//! Dependencies failing under a replica: with Redis out of reach requests are still served
//! from the replica's own state, `/readyz` says `degraded` and the failures are counted, and
//! sharing resumes when Redis is back; with PostgreSQL out of reach chat is still served and
//! feedback is refused with a clear 503, never a false acknowledgement. Each dependency is
//! reached through a proxy that the test cuts.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a failed test"
)]

mod support;

use redis::AsyncCommands;
use routewise_testkit::TcpProxy;
use serde_json::json;
use std::net::SocketAddr;
use support::{SIMPLE, Services, ask, eventually, feedback, header, readyz, replica_via};

fn addr_of(url: &str, default_port: u16) -> SocketAddr {
    let rest = url.split("://").nth(1).unwrap();
    let host_port = rest.rsplit('@').next().unwrap();
    let host_port = host_port.split(['/', '?']).next().unwrap();
    let with_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:{default_port}")
    };
    let with_port = with_port.replace("localhost", "127.0.0.1");
    with_port.parse().unwrap()
}

#[tokio::test]
async fn without_redis_a_replica_serves_alone_says_degraded_and_shares_again_on_return() {
    let Some(services) = Services::start().await else {
        return;
    };
    let proxy = TcpProxy::start(addr_of(&support::redis_base(), 6379))
        .await
        .unwrap();
    let via = format!("redis://{}", proxy.addr());
    let server = "[[server.routes]]\nname = \"auto\"\ncache = true";
    let h = replica_via(&services, server, "", Some(&via), None).await;
    assert_eq!(h.chat(ask("auto", SIMPLE)).await.status(), 200);
    assert_eq!(readyz(&h).await["shared"]["status"], "ok");

    proxy.cut();
    for i in 0..5 {
        let response = h.chat(ask("auto", &format!("{SIMPLE} {i}"))).await;
        assert_eq!(response.status(), 200, "served while Redis is out of reach");
    }
    let ready = readyz(&h).await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["shared"]["status"], "degraded", "{ready}");
    assert!(ready["shared"]["errors"].as_u64().unwrap() > 0);
    assert!(ready["shared"]["last_error"].is_string());
    // The local cache stands in: a repeat is a hit without Redis.
    let again = h.chat(ask("auto", &format!("{SIMPLE} 4"))).await;
    assert_eq!(header(&again, "x-routewise-cache"), "hit");
    let metrics = h
        .client
        .get(format!("{}/metrics", h.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("routewise_shared_state_errors_total"));

    proxy.restore();
    let recovered = eventually(10, || async {
        readyz(&h).await["shared"]["status"] == "ok"
    })
    .await;
    assert!(recovered, "the replica never noticed Redis was back");
    // Shared again: a new reply lands in Redis.
    let fresh = format!("{SIMPLE} after the outage");
    assert_eq!(h.chat(ask("auto", &fresh)).await.status(), 200);
    let mut redis = support::redis_connection().await.unwrap();
    let keys: Vec<String> = redis
        .keys(format!("{}:cache:*", services.prefix))
        .await
        .unwrap();
    assert!(
        keys.len() >= 2,
        "the reply after the outage went to Redis: {keys:?}"
    );
    services.finish().await;
}

#[tokio::test]
async fn without_postgres_chat_is_served_and_feedback_is_refused_with_503() {
    let Some(services) = Services::start().await else {
        return;
    };
    let proxy = TcpProxy::start(addr_of(&support::postgres_base(), 5432))
        .await
        .unwrap();
    let via = services
        .store_url
        .replacen("127.0.0.1:5432", &proxy.addr().to_string(), 1)
        .replacen("localhost:5432", &proxy.addr().to_string(), 1);
    assert_ne!(
        via, services.store_url,
        "the store URL goes through the proxy"
    );
    let h = replica_via(&services, "", "", None, Some(&via)).await;
    let response = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(response.status(), 200);
    let id = header(&response, "x-routewise-request-id").to_owned();

    proxy.cut();
    let served = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(served.status(), 200, "chat does not need the store");
    let refused = feedback(&h, json!({"request_id": id, "thumbs": "up"})).await;
    assert_eq!(refused.status(), 503);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");

    proxy.restore();
    let accepted = eventually(20, || async {
        feedback(&h, json!({"request_id": id, "thumbs": "up"}))
            .await
            .status()
            == 200
    })
    .await;
    assert!(accepted, "feedback is taken again once the store is back");
    services.finish().await;
}
