//! Requests signed by other implementations (spec §9), sent byte for byte over real HTTP with the
//! server clock pinned to the vectors' time.

use serde_json::Value;

use super::common::*;
use super::http;
use super::signer::Request;

fn vectors(file: &str) -> Vec<Value> {
    let path = fixtures().join("rolesanywhere/vectors").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: Value = serde_json::from_str(&text).expect("vector JSON");
    json["vectors"].as_array().expect("vectors").clone()
}

/// `/sessions` plus the query string of the vector's URL.
fn target(url: &str) -> String {
    let path = url.split_once("amazonaws.com").expect("AWS URL").1;
    assert!(path.starts_with("/sessions"), "{url}");
    path.to_owned()
}

#[tokio::test]
async fn recommended_vectors_are_accepted() {
    let (addr, handle) = start_default().await;
    let all = vectors("recommended.json");
    assert_eq!(all.len(), 6);
    for vector in &all {
        let name = vector["name"].as_str().expect("name");
        let mut headers: Vec<(String, String)> = vector["headers"]
            .as_object()
            .expect("headers")
            .iter()
            .map(|(n, v)| (n.clone(), v.as_str().expect("value").to_owned()))
            .collect();
        headers.push((
            "authorization".into(),
            vector["authorization"]
                .as_str()
                .expect("authorization")
                .to_owned(),
        ));
        let request = Request {
            target: target(vector["url"].as_str().expect("url")),
            headers,
            body: vector["body"].as_str().expect("body").as_bytes().to_vec(),
            chunked: false,
        };
        let response = http::send(addr, &request).await;
        assert_eq!(
            response.status,
            201,
            "{name}: {} ({})",
            String::from_utf8_lossy(&response.body),
            response.reason()
        );
        let set = &response.json()["credentialSet"][0];
        let expected_session = match name {
            "rec-rsa2048-session-name" => "my-session",
            "rec-rsa2048" | "gostyle-rsa2048-query-params" => {
                "800123456789abcdef0123456789abcdef0123"
            }
            "rec-p256" => "1000",
            "rec-p384" => "01",
            "rec-p256-leaf-with-chain" => "02",
            other => panic!("unexpected vector {other}"),
        };
        assert_eq!(
            set["assumedRoleUser"]["arn"],
            format!("arn:aws:sts::123456789012:assumed-role/rolesanywhere-test/{expected_session}"),
            "{name}"
        );
    }
    assert_eq!(handle.stats().accepted, 6);
}

#[tokio::test]
async fn python_package_requests_are_accepted_except_the_sha384_algorithm_name() {
    let (addr, handle) = start_default().await;
    let all = vectors("python-iam-rolesanywhere-session.json");
    assert_eq!(all.len(), 7);
    for vector in &all {
        let name = vector["name"].as_str().expect("name");
        let headers: Vec<(String, String)> = vector["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().expect("name").to_owned(),
                    pair[1].as_str().expect("value").to_owned(),
                )
            })
            .collect();
        // The vector's exact headers, in order, Content-Length included, and its exact body.
        assert!(headers.iter().any(|(n, _)| n == "Content-Length"), "{name}");
        let request = Request {
            target: target(vector["url"].as_str().expect("url")),
            headers,
            body: vector["body"].as_str().expect("body").as_bytes().to_vec(),
            chunked: false,
        };
        let response = http::send(addr, &request).await;
        if name == "p384-cert-signed-sha384" {
            assert_eq!(response.status, 403, "{name}");
            assert_eq!(
                response.header("x-amzn-errortype"),
                Some("AccessDeniedException")
            );
            assert_eq!(response.message(), "Invalid signature");
            assert!(
                response
                    .reason()
                    .contains("unsupported signing algorithm \"AWS4-X509-ECDSA-SHA384\""),
                "{}",
                response.reason()
            );
        } else {
            assert_eq!(
                response.status,
                201,
                "{name}: {} ({})",
                String::from_utf8_lossy(&response.body),
                response.reason()
            );
            let key = response.json()["credentialSet"][0]["credentials"]["accessKeyId"]
                .as_str()
                .expect("key")
                .to_owned();
            assert!(key.starts_with("ASIA"), "{name}: {key}");
        }
    }
    assert_eq!(handle.stats().accepted, 6);
    assert_eq!(handle.stats().rejected, 1);
}
