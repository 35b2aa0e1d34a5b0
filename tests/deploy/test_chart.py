"""The Helm chart, rendered offline and checked against Kubernetes schemas and the server."""

import re
import tomllib

import kubernetes_validate
import pytest
import yaml

from conftest import CHART
from helm_render import RenderError, manifests, render_chart

KUBE_VERSION = "1.30.0"
REQUIRED = {"database": {"existingSecret": "relay-db"}, "config": {"s3_bucket": "live-media"}}
EVERYTHING_ON = {
    "s3Credentials": {"existingSecret": "relay-s3"},
    "origin": {
        "autoscaling": {"enabled": False},
        "replicas": 3,
        "ingress": {"enabled": True, "className": "alb", "tls": [{"secretName": "tls", "hosts": ["live.example.com"]}]},
        "service": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"},
    },
    "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    "serviceAccount": {"annotations": {"team": "video"}},
    "ingest": {
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/ingest"}},
        "rtmpService": {"loadBalancerSourceRanges": ["203.0.113.0/24"]},
        "extraEnv": [{"name": "RUST_LOG", "value": "debug"}],
    },
    "config": {"s3_prefix": "prod", "drain_timeout_ms": 45500},
    "playbackBaseUrl": "https://d111111abcdef8.cloudfront.net/",
}


@pytest.fixture(scope="module")
def default_render():
    return render_chart(CHART, [REQUIRED])


@pytest.fixture(scope="module")
def full_render():
    return render_chart(CHART, [REQUIRED, EVERYTHING_ON])


def by_kind(objects, kind):
    return {item["metadata"]["name"]: item for item in objects if item["kind"] == kind}


def relay_toml(objects):
    (config_map,) = by_kind(objects, "ConfigMap").values()
    return tomllib.loads(config_map["data"]["relay.toml"])


def containers(deployment):
    return deployment["spec"]["template"]["spec"]["containers"]


def test_install_without_database_secret_fails_with_a_clear_message():
    with pytest.raises(RenderError, match="database.existingSecret is required"):
        render_chart(CHART)


def test_local_storage_is_refused():
    with pytest.raises(RenderError, match="config.storage must be s3"):
        render_chart(CHART, [REQUIRED, {"config": {"storage": "local"}}])


def test_chart_managed_keys_cannot_be_overridden():
    with pytest.raises(RenderError, match="config.http_listen is set by the chart"):
        render_chart(CHART, [REQUIRED, {"config": {"http_listen": "0.0.0.0:9000"}}])


@pytest.mark.parametrize("render", ["default_render", "full_render"])
def test_every_object_matches_the_kubernetes_schema(render, request):
    objects = manifests(request.getfixturevalue(render))
    assert objects
    for item in objects:
        if item["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD; checked in test_service_monitors_scrape_every_role
        try:
            kubernetes_validate.validate(item, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{item['kind']} {item['metadata']['name']}: {error.message} at {list(error.path)}")


def test_default_render_has_every_role(default_render):
    objects = manifests(default_render)
    assert set(by_kind(objects, "Deployment")) == {"demo-relay-ingest", "demo-relay-origin", "demo-relay-api"}
    assert set(by_kind(objects, "Service")) == {
        "demo-relay-rtmp",
        "demo-relay-ingest-internal",
        "demo-relay-origin",
        "demo-relay-api",
    }
    assert set(by_kind(objects, "ServiceAccount")) == {"demo-relay-ingest", "demo-relay-origin", "demo-relay-api"}
    assert len(by_kind(objects, "PodDisruptionBudget")) == 3
    assert set(by_kind(objects, "HorizontalPodAutoscaler")) == {"demo-relay-origin"}
    assert not by_kind(objects, "Ingress") and not by_kind(objects, "ServiceMonitor")
    assert "<no value>" not in "".join(default_render.values())


def test_relay_toml_uses_only_server_keys_and_whole_numbers(default_render, server_config_keys):
    config = relay_toml(manifests(default_render))
    assert set(config) <= server_config_keys, set(config) - server_config_keys
    # A float-formatted number would not deserialize into the server's integer fields.
    assert config["spool_max_bytes"] == 4294967296 and isinstance(config["spool_max_bytes"], int)
    assert config["storage"] == "s3" and config["s3_bucket"] == "live-media"
    # Empty strings are left out, so the server default (no prefix) applies.
    assert "s3_prefix" not in config and "s3_endpoint" not in config
    assert config["internal_listen"] == "0.0.0.0:8081" and config["rtmp_listen"] == "0.0.0.0:1935"


def test_environment_names_are_server_settings(full_render, server_config_keys):
    for deployment in by_kind(manifests(full_render), "Deployment").values():
        spec = deployment["spec"]["template"]["spec"]
        # Service links would add RELAY_<SERVICE>_... variables the server refuses.
        assert spec["enableServiceLinks"] is False
        for variable in containers(deployment)[0]["env"]:
            if variable["name"].startswith("RELAY_"):
                assert variable["name"][len("RELAY_"):].lower() in server_config_keys, variable["name"]


def test_ipv6_pods_listen_and_advertise_with_brackets():
    objects = manifests(render_chart(CHART, [REQUIRED, {"listenHost": "[::]", "ingest": {"advertiseHost": "[$(POD_IP)]"}}]))
    assert relay_toml(objects)["http_listen"] == "[::]:8080"
    (container,) = containers(by_kind(objects, "Deployment")["demo-relay-ingest"])
    (advertise,) = [variable for variable in container["env"] if variable["name"] == "RELAY_ADVERTISE_ADDRESS"]
    assert advertise["value"] == "[$(POD_IP)]:8081"


def test_ingest_identity_and_drain(full_render):
    ingest = by_kind(manifests(full_render), "Deployment")["demo-relay-ingest"]
    spec = ingest["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    env = [variable["name"] for variable in container["env"]]
    values = {variable["name"]: variable for variable in container["env"]}
    assert values["RELAY_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert values["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    # $(POD_IP) expands only when POD_IP is defined earlier in the list.
    assert values["RELAY_ADVERTISE_ADDRESS"]["value"] == "$(POD_IP):8081"
    assert env.index("POD_IP") < env.index("RELAY_ADVERTISE_ADDRESS")
    assert values["RELAY_S3_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "relay-s3"
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain_seconds = 45.5  # config.drain_timeout_ms in EVERYTHING_ON
    assert spec["terminationGracePeriodSeconds"] > pre_stop + drain_seconds
    assert spec["terminationGracePeriodSeconds"] == 10 + 46 + 10
    assert container["args"] == ["ingest", "--config", "/etc/relay/relay.toml"]
    assert ingest["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_probes_hit_health_endpoints_on_declared_ports(full_render):
    expected_port = {"demo-relay-ingest": "internal", "demo-relay-origin": "http", "demo-relay-api": "http"}
    for name, deployment in by_kind(manifests(full_render), "Deployment").items():
        (container,) = containers(deployment)
        ports = {port["name"] for port in container["ports"]}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": expected_port[name]}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": expected_port[name]}
        assert expected_port[name] in ports


def test_pods_run_unprivileged_on_a_read_only_root(full_render, default_render):
    toml = relay_toml(manifests(default_render))
    for deployment in by_kind(manifests(full_render), "Deployment").values():
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        # Everything the server writes lands on an emptyDir.
        for path in (toml["data_dir"], toml["spool_dir"], "/tmp"):
            owner = max((mounted for mounted in mounts if path.startswith(mounted)), key=len)
            assert "emptyDir" in volumes[mounts[owner]], path
        assert volumes["config"]["configMap"]["name"] == "demo-relay"


def test_spool_fits_its_volume(default_render):
    objects = manifests(default_render)
    volumes = by_kind(objects, "Deployment")["demo-relay-ingest"]["spec"]["template"]["spec"]["volumes"]
    (data,) = [volume for volume in volumes if volume["name"] == "data"]
    match = re.fullmatch(r"(\d+)Gi", data["emptyDir"]["sizeLimit"])
    assert match and int(match.group(1)) << 30 > relay_toml(objects)["spool_max_bytes"]


def test_services_and_budgets_select_their_pods(full_render):
    objects = manifests(full_render)
    pod_labels = {
        name: deployment["spec"]["template"]["metadata"]["labels"]
        for name, deployment in by_kind(objects, "Deployment").items()
    }

    def selected(selector):
        return {name for name, labels in pod_labels.items() if selector.items() <= labels.items()}

    services = by_kind(objects, "Service")
    assert selected(services["demo-relay-rtmp"]["spec"]["selector"]) == {"demo-relay-ingest"}
    assert selected(services["demo-relay-ingest-internal"]["spec"]["selector"]) == {"demo-relay-ingest"}
    assert selected(services["demo-relay-origin"]["spec"]["selector"]) == {"demo-relay-origin"}
    assert selected(services["demo-relay-api"]["spec"]["selector"]) == {"demo-relay-api"}
    for budget in by_kind(objects, "PodDisruptionBudget").values():
        assert len(selected(budget["spec"]["selector"]["matchLabels"])) == 1
    for deployment in by_kind(objects, "Deployment").values():
        assert deployment["spec"]["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"][
            "labels"
        ].items()


def test_rtmp_load_balancer_keeps_client_addresses(full_render):
    services = by_kind(manifests(full_render), "Service")
    rtmp = services["demo-relay-rtmp"]["spec"]
    assert rtmp["type"] == "LoadBalancer" and rtmp["externalTrafficPolicy"] == "Local"
    assert rtmp["ports"] == [{"name": "rtmp", "port": 1935, "targetPort": "rtmp", "protocol": "TCP"}]
    assert rtmp["loadBalancerSourceRanges"] == ["203.0.113.0/24"]
    internal = services["demo-relay-ingest-internal"]["spec"]
    assert internal["clusterIP"] == "None" and internal["ports"][0]["port"] == 8081


def test_lease_rights_go_to_the_ingest_account_only(full_render):
    objects = manifests(full_render)
    (role,) = by_kind(objects, "Role").values()
    (rule,) = role["rules"]
    assert rule["apiGroups"] == ["coordination.k8s.io"] and rule["resources"] == ["leases"]
    assert set(rule["verbs"]) == {"get", "list", "watch", "create", "update", "patch"}
    # The Leases those rights are for: the server keeps camera leases there, in its own namespace.
    assert relay_toml(objects)["camera_lease_backend"] == "kubernetes"
    assert "kubernetes_namespace" not in relay_toml(objects)
    (binding,) = by_kind(objects, "RoleBinding").values()
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "demo-relay-ingest", "namespace": "video"}]
    accounts = by_kind(objects, "ServiceAccount")
    assert accounts["demo-relay-ingest"]["automountServiceAccountToken"] is True
    assert accounts["demo-relay-origin"]["automountServiceAccountToken"] is False
    # Per-role IRSA annotation on top of the shared ones.
    assert accounts["demo-relay-ingest"]["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/ingest",
        "team": "video",
    }
    assert accounts["demo-relay-origin"]["metadata"]["annotations"] == {"team": "video"}
    for deployment in by_kind(objects, "Deployment").values():
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] in accounts


def test_autoscaler_owns_origin_replicas(default_render, full_render):
    objects = manifests(default_render)
    (hpa,) = by_kind(objects, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] in by_kind(objects, "Deployment")
    assert "replicas" not in by_kind(objects, "Deployment")["demo-relay-origin"]["spec"]
    full = manifests(full_render)
    assert not by_kind(full, "HorizontalPodAutoscaler")
    assert by_kind(full, "Deployment")["demo-relay-origin"]["spec"]["replicas"] == 3


def test_ingress_exposes_only_viewer_paths(full_render):
    (ingress,) = by_kind(manifests(full_render), "Ingress").values()
    (rule,) = ingress["spec"]["rules"]
    paths = {path["path"] for path in rule["http"]["paths"]}
    assert paths == {"/live/", "/t/", "/player.html", "/hls.min.js"}
    assert not any(path.startswith("/internal") for path in paths)
    assert ingress["spec"]["ingressClassName"] == "alb"


def test_service_monitors_scrape_every_role(full_render):
    objects = manifests(full_render)
    monitors = by_kind(objects, "ServiceMonitor")
    assert set(monitors) == {"demo-relay-ingest", "demo-relay-origin", "demo-relay-api"}
    services = by_kind(objects, "Service").values()
    for monitor in monitors.values():
        assert monitor["metadata"]["labels"]["release"] == "prometheus"
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        selector = monitor["spec"]["selector"]["matchLabels"].items()
        ports = {port["name"] for service in services if selector <= service["metadata"]["labels"].items()
                 for port in service["spec"]["ports"]}
        assert endpoint["port"] in ports


def test_config_change_rolls_the_pods():
    first = manifests(render_chart(CHART, [REQUIRED]))
    second = manifests(render_chart(CHART, [REQUIRED, {"config": {"part_target_ms": 250}}]))

    def checksum(objects):
        return by_kind(objects, "Deployment")["demo-relay-origin"]["spec"]["template"]["metadata"]["annotations"][
            "checksum/config"
        ]

    assert checksum(first) != checksum(second)


def test_notes_print_the_rtmp_and_playback_urls(full_render):
    notes = full_render["NOTES.txt"]
    assert "rtmp://<that address>:1935/live" in notes
    assert "https://d111111abcdef8.cloudfront.net/t/<token>/live/<stream>/index.m3u8" in notes
    assert "kubectl -n video get service demo-relay-rtmp" in notes


def test_values_file_is_valid_yaml_with_documented_sections():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert {"ingest", "origin", "api", "config", "database", "s3Credentials"} <= set(values)
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])


def test_every_values_path_in_templates_exists():
    """Catches typos in branches the renders above do not take."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = []
    for template in (CHART / "templates").iterdir():
        for path in re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", template.read_text()):
            node = values
            for key in path.strip(".").split("."):
                if not isinstance(node, dict) or key not in node:
                    missing.append(f"{template.name}: .Values{path}")
                    break
                node = node[key]
    assert not missing, missing
