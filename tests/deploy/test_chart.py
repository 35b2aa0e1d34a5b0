"""The Helm chart, rendered offline and checked against Kubernetes schemas and the server."""

import json
import os
import re
import shutil
import subprocess
import tomllib

import kubernetes_validate
import pytest
import yaml

from conftest import CHART, REPO
from helm_render import RenderError, find_defines, manifests, render_chart

KUBE_VERSION = "1.30.0"
# What the chart sets itself; config may not (relay.chartManagedKeys).
CHART_MANAGED = [
    "http.listen",
    "rtsp.listen",
    "rtmp.listen",
    "cluster.internal_listen",
    "server.data_dir",
    "storage.spool_dir",
    "cluster.pod_name",
    "cluster.advertise_address",
    "database.url",
    "database.sealing_key_file",
    "database.previous_sealing_key_file",
    "s3.access_key_id",
    "s3.secret_access_key",
    "admin.listen",
    "cluster.internal_secret",
    "http.origin_secret",
    "http.tls_listen",
    "rtmp.tls_listen",
    "tls.certificate_file",
    "tls.private_key_file",
]
REQUIRED = {
    "database": {"existingSecret": "relay-db"},
    "clusterSecret": {"existingSecret": "relay-cluster"},
    "sealingKey": {"existingSecret": "relay-sealing"},
    "config": {"s3": {"bucket": "live-media"}},
}
EVERYTHING_ON = {
    "s3Credentials": {"existingSecret": "relay-s3"},
    "origin": {
        "autoscaling": {"enabled": False},
        "replicas": 3,
        "ingress": {"enabled": True, "className": "alb", "tls": [{"secretName": "tls", "hosts": ["live.example.com"]}]},
        "service": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"},
    },
    "metrics": {
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}},
        "grafanaDashboard": {"enabled": True},
    },
    "serviceAccount": {"annotations": {"team": "video"}},
    "ingest": {
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/ingest"}},
        "rtmpService": {"loadBalancerSourceRanges": ["203.0.113.0/24"]},
        "extraEnv": [{"name": "RUST_LOG", "value": "debug"}, {"name": "RELAY_RTMP_IDLE_TIMEOUT_MS", "value": "15000"}],
    },
    "config": {"s3": {"prefix": "prod"}, "server": {"drain_timeout_ms": 45500}, "dvr": {"delete_expired_objects": False}},
    "playbackBaseUrl": "https://d111111abcdef8.cloudfront.net/",
}


@pytest.fixture(scope="module")
def default_render():
    return render_chart(CHART, [REQUIRED])


# A kubernetes.io/tls Secret, e.g. one a cert-manager Certificate keeps renewed.
TLS_SECRET = {"tls": {"existingSecret": "relay-tls"}}


@pytest.fixture(scope="module")
def full_render():
    return render_chart(CHART, [REQUIRED, EVERYTHING_ON])


@pytest.fixture(scope="module")
def tls_render():
    return render_chart(CHART, [REQUIRED, TLS_SECRET])


def by_kind(objects, kind):
    return {item["metadata"]["name"]: item for item in objects if item["kind"] == kind}


def relay_toml(objects):
    (config_map,) = [item for item in by_kind(objects, "ConfigMap").values() if "relay.toml" in item["data"]]
    return tomllib.loads(config_map["data"]["relay.toml"])


def containers(deployment):
    return deployment["spec"]["template"]["spec"]["containers"]


def helper_words(name):
    """A space-separated list defined in _helpers.tpl, e.g. relay.configSections."""
    return find_defines((CHART / "templates" / "_helpers.tpl").read_text())[name].split()


def setting_of(variable):
    """(section, key) a RELAY_* variable sets: the section is the first word after RELAY_."""
    section, _, key = variable[len("RELAY_"):].lower().partition("_")
    return section, key


def test_install_without_database_secret_fails_with_a_clear_message():
    with pytest.raises(RenderError, match="database.existingSecret is required"):
        render_chart(CHART)


def test_install_without_cluster_secret_fails_with_a_clear_message():
    with pytest.raises(RenderError, match="clusterSecret.existingSecret is required"):
        render_chart(CHART, [{"database": {"existingSecret": "relay-db"}, "config": {"s3": {"bucket": "live-media"}}}])


def test_install_without_sealing_key_fails_with_a_clear_message():
    without = {key: value for key, value in REQUIRED.items() if key != "sealingKey"}
    with pytest.raises(RenderError, match="sealingKey.existingSecret is required"):
        render_chart(CHART, [without])
    with pytest.raises(RenderError, match="sealingKey.previousKey must name another key"):
        render_chart(CHART, [REQUIRED, {"sealingKey": {"previousKey": "key"}}])


def test_every_pod_reads_the_sealing_key_from_its_secret(default_render):
    objects = manifests(default_render)
    assert relay_toml(objects)["database"] == {"sealing_key_file": "/etc/relay-sealing/key"}
    for deployment in by_kind(objects, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        (volume,) = [item for item in pod["volumes"] if item["name"] == "sealing-key"]
        assert volume["secret"] == {
            "secretName": "relay-sealing",
            "defaultMode": 0o440,
            "items": [{"key": "key", "path": "key"}],
        }
        (mount,) = [item for item in containers(deployment)[0]["volumeMounts"] if item["name"] == "sealing-key"]
        assert mount == {"name": "sealing-key", "mountPath": "/etc/relay-sealing", "readOnly": True}


def test_a_rotation_mounts_the_previous_key_too():
    objects = manifests(render_chart(CHART, [REQUIRED, {"sealingKey": {"key": "new", "previousKey": "old"}}]))
    assert relay_toml(objects)["database"] == {
        "sealing_key_file": "/etc/relay-sealing/new",
        "previous_sealing_key_file": "/etc/relay-sealing/old",
    }
    for deployment in by_kind(objects, "Deployment").values():
        (volume,) = [item for item in deployment["spec"]["template"]["spec"]["volumes"] if item["name"] == "sealing-key"]
        assert volume["secret"]["items"] == [{"key": "new", "path": "new"}, {"key": "old", "path": "old"}]


def test_rtsp_push_reaches_ingest_pods_through_the_publisher_service(default_render):
    objects = manifests(default_render)
    assert relay_toml(objects)["rtsp"]["listen"] == "0.0.0.0:8554"
    ingest = by_kind(objects, "Deployment")["demo-relay-ingest"]
    assert {"name": "rtsp", "containerPort": 8554, "protocol": "TCP"} in containers(ingest)[0]["ports"]
    ports = {port["name"]: port for port in by_kind(objects, "Service")["demo-relay-rtmp"]["spec"]["ports"]}
    assert ports["rtsp"] == {"name": "rtsp", "port": 8554, "targetPort": "rtsp", "protocol": "TCP"}
    policy = by_kind(objects, "NetworkPolicy")["demo-relay-ingest"]
    open_ports = {port["port"] for rule in policy["spec"]["ingress"] if "from" not in rule for port in rule["ports"]}
    assert open_ports == {"rtmp", "rtsp"}
    hidden = manifests(render_chart(CHART, [REQUIRED, {"ingest": {"rtmpService": {"rtspPort": 0}}}]))
    assert [port["name"] for port in by_kind(hidden, "Service")["demo-relay-rtmp"]["spec"]["ports"]] == ["rtmp"]


def test_ingest_pods_get_time_to_replay_their_spool_before_liveness_counts(default_render):
    ingest = by_kind(manifests(default_render), "Deployment")["demo-relay-ingest"]
    startup = containers(ingest)[0]["startupProbe"]
    assert startup["httpGet"] == {"path": "/healthz", "port": "internal"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


def test_the_origin_secret_reaches_every_pod_only_when_given(default_render):
    def variables(objects):
        return {
            name: {item["name"]: item for item in containers(deployment)[0]["env"]}
            for name, deployment in by_kind(objects, "Deployment").items()
        }

    assert not any("RELAY_HTTP_ORIGIN_SECRET" in env for env in variables(manifests(default_render)).values())
    given = manifests(render_chart(CHART, [REQUIRED, {"originSecret": {"existingSecret": "relay-origin"}}]))
    for env in variables(given).values():
        reference = env["RELAY_HTTP_ORIGIN_SECRET"]["valueFrom"]["secretKeyRef"]
        assert reference == {"name": "relay-origin", "key": "origin-secret"}


def test_local_storage_is_refused():
    with pytest.raises(RenderError, match="config.storage.kind must be s3"):
        render_chart(CHART, [REQUIRED, {"config": {"storage": {"kind": "local"}}}])


def test_install_without_bucket_fails_with_a_clear_message():
    with pytest.raises(RenderError, match="config.s3.bucket is required"):
        render_chart(CHART, [{"database": {"existingSecret": "relay-db"}, "clusterSecret": {"existingSecret": "c"}}])


@pytest.mark.parametrize("path", CHART_MANAGED)
def test_chart_managed_keys_cannot_be_overridden(path, server_config_keys):
    section, key = path.split(".")
    assert (section, key) in server_config_keys
    with pytest.raises(RenderError, match=re.escape(f"config.{path} is set by the chart")):
        render_chart(CHART, [REQUIRED, {"config": {section: {key: "x"}}}])


def test_chart_managed_keys_are_the_ones_it_sets():
    assert sorted(helper_words("relay.chartManagedKeys")) == sorted(CHART_MANAGED)


@pytest.mark.parametrize(
    "config, message",
    [
        # Keys of the flat file the server read before it was sectioned name their new place.
        ({"s3_bucket": "live-media"}, "config.s3_bucket is now config.s3.bucket"),
        ({"storage": "s3"}, "config.storage is now config.storage.kind"),
        ({"camera_lease_backend": "database"}, "config.camera_lease_backend is now config.cameras.lease_backend"),
        ({"metrics": {"listen": "0.0.0.0:9090"}}, "config.metrics is not a section of relay.toml"),
        ({"live": 5}, "config.live must be a map"),
        ({"live": {"part_target_ms": 250.5}}, "config.live.part_target_ms must be a whole number"),
        ({"live": {"part-target": 250}}, "config.live.part-target is not a setting name"),
        ({"dvr": {"window_secs": [60]}}, "config.dvr.window_secs: only strings, numbers and booleans"),
    ],
)
def test_config_outside_the_sectioned_format_is_refused(config, message):
    with pytest.raises(RenderError, match=re.escape(message)):
        render_chart(CHART, [REQUIRED, {"config": config}])


@pytest.mark.parametrize(
    "name, message",
    [
        ("RELAY_POD_NAME", "ingest.extraEnv: RELAY_POD_NAME is now RELAY_CLUSTER_POD_NAME"),
        ("RELAY_SPOOL_MAX_BYTES", "ingest.extraEnv: RELAY_SPOOL_MAX_BYTES is now RELAY_STORAGE_SPOOL_MAX_BYTES"),
        ("RELAY_ORIGIN_SERVICE_HOST", "ingest.extraEnv: RELAY_ORIGIN_SERVICE_HOST is not a server setting"),
        ("RELAY_HTTP_LISTEN", "ingest.extraEnv: RELAY_HTTP_LISTEN sets http.listen, which the chart sets"),
        ("RELAY_DATABASE_URL", "ingest.extraEnv: RELAY_DATABASE_URL sets database.url, which the chart sets"),
    ],
)
def test_extra_env_must_name_settings_the_chart_leaves_alone(name, message):
    with pytest.raises(RenderError, match=re.escape(message)):
        render_chart(CHART, [REQUIRED, {"ingest": {"extraEnv": [{"name": name, "value": "x"}]}}])


def test_chart_knows_the_server_sections_and_text_settings(server_config, server_config_keys):
    # relay.toml.example is the server's own list; the chart's copies must follow it.
    assert helper_words("relay.configSections") == list(server_config)
    text = {f"{section}.{key}" for section, table in server_config.items() for key, value in table.items()
            if isinstance(value, str)}
    assert set(helper_words("relay.textKeys")) == text
    for pair in helper_words("relay.movedKeys"):
        old, new = pair.split("=")
        assert tuple(new.split(".")) in server_config_keys, pair


@pytest.mark.parametrize("render", ["default_render", "full_render", "tls_render"])
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
    assert not by_kind(objects, "PrometheusRule") and "demo-relay-dashboard" not in by_kind(objects, "ConfigMap")
    assert "<no value>" not in "".join(default_render.values())


def assert_server_settings(config, server_config, server_config_sections):
    """Every table a server section, every key one of its settings, every value of its setting's type."""
    assert set(config) <= server_config_sections, set(config) - server_config_sections
    for section, table in config.items():
        assert isinstance(table, dict), section
        for key, value in table.items():
            assert key in server_config[section], f"{section}.{key}"
            # bool is an int in Python, so compare types exactly: a float or a quoted number would
            # not deserialize into the server's integer fields, nor a number into a text one.
            assert type(value) is type(server_config[section][key]), f"{section}.{key} = {value!r}"


@pytest.mark.parametrize("render", ["default_render", "full_render", "tls_render"])
def test_relay_toml_uses_only_server_keys_and_whole_numbers(render, request, server_config, server_config_sections):
    config = relay_toml(manifests(request.getfixturevalue(render)))
    assert_server_settings(config, server_config, server_config_sections)
    assert config["storage"]["spool_max_bytes"] == 4294967296 and isinstance(config["storage"]["spool_max_bytes"], int)
    assert config["storage"]["kind"] == "s3" and config["s3"]["bucket"] == "live-media"
    assert config["cluster"]["internal_listen"] == "0.0.0.0:8081" and config["rtmp"]["listen"] == "0.0.0.0:1935"
    assert config["http"]["listen"] == "0.0.0.0:8080" and config["server"]["log_format"] == "json"


def test_relay_toml_leaves_out_empty_values(default_render, full_render):
    config = relay_toml(manifests(default_render))
    # Empty strings are left out, so the server default (no prefix, AWS) applies.
    assert "prefix" not in config["s3"] and "endpoint" not in config["s3"] and "region" not in config["s3"]
    # So are sections with nothing in them (values.yaml has an empty dvr map).
    assert "dvr" not in config
    full = relay_toml(manifests(full_render))
    assert full["s3"]["prefix"] == "prod" and full["dvr"] == {"delete_expired_objects": False}
    assert full["server"]["drain_timeout_ms"] == 45500


def test_values_take_the_type_of_their_setting(server_config, server_config_sections):
    # What --set gives for a bucket named 12345, and what --set-string or quoted YAML gives for numbers.
    overrides = {
        "config": {
            "s3": {"bucket": 12345, "prefix": 2026, "force_path_style": "true"},
            "live": {"part_target_ms": "250"},
            "http": {"secure_cookies": True},
            "dvr": {"window_secs": "86400", "delete_expired_objects": "false"},
        }
    }
    config = relay_toml(manifests(render_chart(CHART, [REQUIRED, overrides])))
    assert_server_settings(config, server_config, server_config_sections)
    assert config["s3"] == {"bucket": "12345", "prefix": "2026", "force_path_style": True}
    assert config["live"]["part_target_ms"] == 250
    assert config["dvr"] == {"window_secs": 86400, "delete_expired_objects": False}


def test_environment_names_are_server_settings(full_render, server_config_keys):
    seen = set()
    for deployment in by_kind(manifests(full_render), "Deployment").values():
        spec = deployment["spec"]["template"]["spec"]
        # Service links would add RELAY_<SERVICE>_... variables the server refuses.
        assert spec["enableServiceLinks"] is False
        for variable in containers(deployment)[0]["env"]:
            if variable["name"].startswith("RELAY_"):
                assert setting_of(variable["name"]) in server_config_keys, variable["name"]
                seen.add(variable["name"])
    assert seen == {
        "RELAY_CLUSTER_POD_NAME",
        "RELAY_CLUSTER_ADVERTISE_ADDRESS",
        "RELAY_DATABASE_URL",
        "RELAY_CLUSTER_INTERNAL_SECRET",
        "RELAY_S3_ACCESS_KEY_ID",
        "RELAY_S3_SECRET_ACCESS_KEY",
        "RELAY_RTMP_IDLE_TIMEOUT_MS",
    }


def test_ipv6_pods_listen_and_advertise_with_brackets():
    objects = manifests(render_chart(CHART, [REQUIRED, {"listenHost": "[::]", "ingest": {"advertiseHost": "[$(POD_IP)]"}}]))
    config = relay_toml(objects)
    assert config["http"]["listen"] == "[::]:8080" and config["rtmp"]["listen"] == "[::]:1935"
    assert config["cluster"]["internal_listen"] == "[::]:8081"
    (container,) = containers(by_kind(objects, "Deployment")["demo-relay-ingest"])
    (advertise,) = [variable for variable in container["env"] if variable["name"] == "RELAY_CLUSTER_ADVERTISE_ADDRESS"]
    assert advertise["value"] == "[$(POD_IP)]:8081"


def test_ingest_identity_and_drain(full_render):
    ingest = by_kind(manifests(full_render), "Deployment")["demo-relay-ingest"]
    spec = ingest["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    env = [variable["name"] for variable in container["env"]]
    values = {variable["name"]: variable for variable in container["env"]}
    assert values["RELAY_CLUSTER_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert values["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    # $(POD_IP) expands only when POD_IP is defined earlier in the list.
    assert values["RELAY_CLUSTER_ADVERTISE_ADDRESS"]["value"] == "$(POD_IP):8081"
    assert env.index("POD_IP") < env.index("RELAY_CLUSTER_ADVERTISE_ADDRESS")
    assert values["RELAY_S3_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "relay-s3"
    assert values["RELAY_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "relay-db", "key": "database-url"}
    assert container["args"] == ["ingest", "--config", "/etc/relay/relay.toml"]
    assert ingest["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


@pytest.mark.parametrize(
    "render, drain_seconds",
    [("default_render", 30), ("full_render", 45.5)],  # config.server.drain_timeout_ms: default, EVERYTHING_ON
)
def test_every_role_gets_its_drain_before_being_killed(render, drain_seconds, request):
    # The server honours server.drain_timeout_ms in every role, so every grace period covers the
    # preStop sleep, the drain (rounded up to whole seconds) and a margin.
    margin = 10
    for name, deployment in by_kind(manifests(request.getfixturevalue(render)), "Deployment").items():
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert spec["terminationGracePeriodSeconds"] > pre_stop + drain_seconds, name
        assert spec["terminationGracePeriodSeconds"] == pre_stop + -(-drain_seconds // 1) + margin, name
    notes = request.getfixturevalue(render)["NOTES.txt"]
    assert f"Pods drain for up to {-(-drain_seconds // 1):.0f} s after SIGTERM" in notes


def test_fixed_grace_periods_are_refused():
    with pytest.raises(RenderError, match="origin.terminationGracePeriodSeconds is derived by the chart"):
        render_chart(CHART, [REQUIRED, {"origin": {"terminationGracePeriodSeconds": 30}}])


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
        for path in (toml["server"]["data_dir"], toml["storage"]["spool_dir"], "/tmp"):
            owner = max((mounted for mounted in mounts if path.startswith(mounted)), key=len)
            assert "emptyDir" in volumes[mounts[owner]], path
        assert volumes["config"]["configMap"]["name"] == "demo-relay"


DIGEST = "sha256:" + "0123456789abcdef" * 4


def image_references(render):
    return {name: containers(deployment)[0]["image"] for name, deployment in by_kind(manifests(render), "Deployment").items()}


def test_make_image_builds_what_the_chart_runs(default_render):
    env = {name: value for name, value in os.environ.items() if name not in ("IMAGE_NAME", "IMAGE_TAG")}
    built = subprocess.run(
        ["bash", str(REPO / "scripts" / "image.sh"), "--print-reference"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    references = image_references(default_render)
    assert set(references) == {"demo-relay-ingest", "demo-relay-origin", "demo-relay-api"}
    assert set(references.values()) == {built}, references
    # The image is tagged with the appVersion; the binary in it must report the same version.
    workspace = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    assert built.endswith(":" + workspace), (built, workspace)


def test_the_chart_command_is_the_image_entrypoint():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    containerfile = (REPO / "Containerfile").read_text()
    (entrypoint,) = re.findall(r"^ENTRYPOINT (\[.*\])$", containerfile, re.MULTILINE)
    (env_path,) = re.findall(r"^ENV PATH=(\S+)$", containerfile, re.MULTILINE)
    program = json.loads(entrypoint)[0]
    # `command: [relay]` replaces the entrypoint and is looked up on the image's PATH.
    assert values["image"]["command"] == [os.path.basename(program)]
    assert os.path.dirname(program) in env_path.split(":")
    assert re.search(r"^USER 65532:65532$", containerfile, re.MULTILINE)
    assert values["podSecurityContext"]["runAsUser"] == 65532


def test_a_pinned_digest_reaches_every_pod():
    references = image_references(render_chart(CHART, [REQUIRED, {"image": {"digest": DIGEST, "tag": "0.1.0"}}]))
    assert set(references.values()) == {f"relay-origin/relay:0.1.0@{DIGEST}"}, references


def test_spool_fits_its_volume(default_render):
    objects = manifests(default_render)
    volumes = by_kind(objects, "Deployment")["demo-relay-ingest"]["spec"]["template"]["spec"]["volumes"]
    (data,) = [volume for volume in volumes if volume["name"] == "data"]
    match = re.fullmatch(r"(\d+)Gi", data["emptyDir"]["sizeLimit"])
    assert match and int(match.group(1)) << 30 > relay_toml(objects)["storage"]["spool_max_bytes"]


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
    assert rtmp["ports"] == [
        {"name": "rtmp", "port": 1935, "targetPort": "rtmp", "protocol": "TCP"},
        {"name": "rtsp", "port": 8554, "targetPort": "rtsp", "protocol": "TCP"},
    ]
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
    assert relay_toml(objects)["cameras"]["lease_backend"] == "kubernetes"
    assert "kubernetes_namespace" not in relay_toml(objects)["cameras"]
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


def test_the_api_and_console_get_their_own_ingress_when_asked():
    objects = manifests(
        render_chart(CHART, [REQUIRED, {"api": {"ingress": {"enabled": True, "className": "nginx", "hosts": ["m.example.com"]}}}])
    )
    (ingress,) = by_kind(objects, "Ingress").values()
    assert ingress["metadata"]["name"] == "demo-relay-api"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "m.example.com"
    assert [(path["path"], path["backend"]["service"]["name"]) for path in rule["http"]["paths"]] == [
        ("/api/", "demo-relay-api"),
        ("/console", "demo-relay-api"),
    ]
    assert "demo-relay-api" in by_kind(objects, "Service")


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


def test_alert_rules_pass_promtool_and_ship_as_a_prometheus_rule(full_render):
    rules_file = CHART / "rules" / "relay.rules.yaml"
    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed (Debian package prometheus; make deps installs it)"
    checked = subprocess.run([promtool, "check", "rules", str(rules_file)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (rule,) = by_kind(manifests(full_render), "PrometheusRule").values()
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    assert rule["spec"] == yaml.safe_load(rules_file.read_text())
    assert {alert["alert"] for group in rule["spec"]["groups"] for alert in group["rules"]} >= {
        "RelayStorageUnavailable",
        "RelayPartPublishDelayHigh",
        "RelayListenerRefusingConnections",
    }


def test_dashboard_ships_in_a_config_map_for_the_grafana_sidecar(full_render):
    config_map = by_kind(manifests(full_render), "ConfigMap")["demo-relay-dashboard"]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"]["relay.json"])
    assert dashboard == json.loads((CHART / "dashboards" / "relay.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert expressions and all("relay_" in expression for expression in expressions)


def test_config_change_rolls_the_pods():
    first = manifests(render_chart(CHART, [REQUIRED]))
    second = manifests(render_chart(CHART, [REQUIRED, {"config": {"live": {"part_target_ms": 250}}}]))

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


def test_values_file_is_valid_yaml_with_documented_sections(server_config):
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert {"ingest", "origin", "api", "config", "database", "s3Credentials"} <= set(values)
    # config mirrors relay.toml's sections, including the keys left empty by default.
    for section, table in values["config"].items():
        assert section in server_config, section
        assert set(table) <= set(server_config[section]), (section, set(table) - set(server_config[section]))
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


def test_every_pod_gets_the_cluster_secret_from_its_secret(default_render):
    for deployment in by_kind(manifests(default_render), "Deployment").values():
        (variable,) = [item for item in containers(deployment)[0]["env"] if item["name"] == "RELAY_CLUSTER_INTERNAL_SECRET"]
        assert variable["valueFrom"]["secretKeyRef"] == {"name": "relay-cluster", "key": "internal-secret"}


def test_metrics_live_on_the_admin_port_which_no_public_service_carries(full_render):
    objects = manifests(full_render)
    assert relay_toml(objects)["admin"]["listen"] == "0.0.0.0:9464"
    for deployment in by_kind(objects, "Deployment").values():
        assert {"name": "admin", "containerPort": 9464, "protocol": "TCP"} in containers(deployment)[0]["ports"]
    for name, service in by_kind(objects, "Service").items():
        ports = {port["targetPort"] for port in service["spec"]["ports"]}
        if name.endswith("-metrics"):
            assert service["spec"]["clusterIP"] == "None" and ports == {"admin"}, name
        else:
            assert "admin" not in ports, name


def test_network_policies_keep_the_internal_and_admin_ports_inside(default_render):
    policies = by_kind(manifests(default_render), "NetworkPolicy")
    assert set(policies) == {"demo-relay-ingest", "demo-relay-origin", "demo-relay-api"}
    release = {"app.kubernetes.io/name": "relay", "app.kubernetes.io/instance": "demo"}
    monitoring = {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    for name, policy in policies.items():
        rules = {rule["ports"][0]["port"]: rule.get("from") for rule in policy["spec"]["ingress"]}
        assert rules["admin"] == [{"namespaceSelector": monitoring}], name
        if name == "demo-relay-ingest":
            assert rules["internal"] == [{"podSelector": {"matchLabels": release}}]
            assert rules["rtmp"] is None, "publishers come from anywhere"
            assert set(rules) == {"rtmp", "internal", "admin"}
        else:
            assert rules["http"] is None and set(rules) == {"http", "admin"}, name
    off = manifests(render_chart(CHART, [REQUIRED, {"networkPolicy": {"enabled": False}}]))
    assert not by_kind(off, "NetworkPolicy")


def test_outbound_networks_are_written_as_a_list(server_config, server_config_sections):
    networks = ["10.20.0.0/16", "fd00::/8"]
    objects = manifests(render_chart(CHART, [REQUIRED, {"config": {"outbound": {"allow_networks": networks}}}]))
    config = relay_toml(objects)
    assert config["outbound"]["allow_networks"] == networks
    assert_server_settings(config, server_config, server_config_sections)


def merged(*layers):
    """Values as Helm merges them: maps key by key, everything else replaced."""
    result = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                result[key] = merged(result[key], value)
            else:
                result[key] = value
    return result


@pytest.fixture(scope="module")
def values_schema():
    import json

    import jsonschema

    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_values_schema_accepts_the_defaults_and_every_render_of_these_tests(values_schema):
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    for layers in ([], [REQUIRED], [REQUIRED, EVERYTHING_ON], [REQUIRED, TLS_SECRET]):
        errors = [error.message for error in values_schema.iter_errors(merged(defaults, *layers))]
        assert not errors, errors


@pytest.mark.parametrize(
    "bad, why",
    [
        ({"clustersecret": {"existingSecret": "x"}}, "a misspelt top-level key"),
        ({"ingest": {"replicas": 0}}, "no ingest pod"),
        ({"ports": {"http": "8080x"}}, "a port that is not a number"),
        ({"ports": {"rtmp": 70000}}, "a port out of range"),
        ({"image": {"pullPolicy": "Sometimes"}}, "an unknown pull policy"),
        ({"origin": {"service": {"type": "Ingress"}}}, "an unknown Service type"),
        ({"origin": {"autoscaling": {"targetCPUUtilizationPercentage": 150}}}, "more than 100 %"),
        ({"api": {"extraEnv": [{"value": "debug"}]}}, "an environment variable without a name"),
        ({"sealingKey": {"previousKey": 3}}, "a key name that is not text"),
        ({"image": {"digest": "latest"}}, "a digest that is a tag"),
        ({"image": {"digest": "sha256:0123"}}, "a truncated digest"),
        ({"tls": {"secretName": "relay-tls"}}, "a misspelt TLS Secret key"),
        ({"ports": {"https": "443x"}}, "an HTTPS port that is not a number"),
        ({"ingest": {"rtmpService": {"rtmpsPort": 0}}}, "an RTMPS Service port of 0"),
    ],
)
def test_values_schema_refuses_what_helm_should_stop(values_schema, bad, why):
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    errors = list(values_schema.iter_errors(merged(defaults, REQUIRED, bad)))
    assert errors, why


def container_ports(deployment):
    return {port["name"]: port["containerPort"] for port in containers(deployment)[0]["ports"]}


def service_ports(service):
    return {port["name"]: (port["port"], port["targetPort"]) for port in service["spec"]["ports"]}


def open_ports(policy):
    """Ports of a NetworkPolicy's rules that admit anyone (no from)."""
    return {port["port"] for rule in policy["spec"]["ingress"] if "from" not in rule for port in rule["ports"]}


def test_a_tls_secret_gives_origin_and_api_https_and_ingest_rtmps(tls_render):
    objects = manifests(tls_render)
    config = relay_toml(objects)
    assert config["tls"] == {"certificate_file": "/etc/relay-tls/tls.crt", "private_key_file": "/etc/relay-tls/tls.key"}
    assert config["http"]["tls_listen"] == "0.0.0.0:8443" and config["rtmp"]["tls_listen"] == "0.0.0.0:1936"
    assert "redirect_to_https" not in config["http"], "probes and the CDN keep the plain port"
    deployments = by_kind(objects, "Deployment")
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        (volume,) = [item for item in pod["volumes"] if item["name"] == "tls"]
        assert volume["secret"] == {
            "secretName": "relay-tls",
            "defaultMode": 0o440,
            "items": [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}],
        }
        # Every role loads the certificate at start. A subPath mount would never see a renewal:
        # the kubelet replaces the Secret's files by swapping a symlink in the volume's directory.
        (mount,) = [item for item in containers(deployment)[0]["volumeMounts"] if item["name"] == "tls"]
        assert mount == {"name": "tls", "mountPath": "/etc/relay-tls", "readOnly": True}, name
        for path in config["tls"].values():
            directory, file = os.path.split(path)
            assert directory == mount["mountPath"] and file in {item["path"] for item in volume["secret"]["items"]}
    assert container_ports(deployments["demo-relay-origin"])["https"] == 8443
    assert container_ports(deployments["demo-relay-api"])["https"] == 8443
    assert container_ports(deployments["demo-relay-ingest"])["rtmps"] == 1936
    assert "rtmps" not in container_ports(deployments["demo-relay-origin"])
    assert "https" not in container_ports(deployments["demo-relay-ingest"])
    services = by_kind(objects, "Service")
    assert service_ports(services["demo-relay-origin"]) == {"http": (80, "http"), "https": (443, "https")}
    assert service_ports(services["demo-relay-api"]) == {"http": (80, "http"), "https": (443, "https")}
    assert service_ports(services["demo-relay-rtmp"]) == {
        "rtmp": (1935, "rtmp"),
        "rtmps": (1936, "rtmps"),
        "rtsp": (8554, "rtsp"),
    }
    policies = by_kind(objects, "NetworkPolicy")
    assert open_ports(policies["demo-relay-ingest"]) == {"rtmp", "rtmps", "rtsp"}
    assert open_ports(policies["demo-relay-origin"]) == {"http", "https"}
    assert open_ports(policies["demo-relay-api"]) == {"http", "https"}
    assert "rtmps://<a name of the certificate>:1936/live" in tls_render["NOTES.txt"]


def test_tls_ports_follow_the_values():
    objects = manifests(
        render_chart(
            CHART,
            [
                REQUIRED,
                TLS_SECRET,
                {
                    "listenHost": "[::]",
                    "ports": {"https": 9443, "rtmps": 4443},
                    "origin": {"service": {"httpsPort": 8443}},
                    "ingest": {"rtmpService": {"rtmpsPort": 443}},
                },
            ],
        )
    )
    config = relay_toml(objects)
    assert config["http"]["tls_listen"] == "[::]:9443" and config["rtmp"]["tls_listen"] == "[::]:4443"
    deployments = by_kind(objects, "Deployment")
    assert container_ports(deployments["demo-relay-origin"])["https"] == 9443
    assert container_ports(deployments["demo-relay-ingest"])["rtmps"] == 4443
    services = by_kind(objects, "Service")
    assert service_ports(services["demo-relay-origin"])["https"] == (8443, "https")
    assert service_ports(services["demo-relay-rtmp"])["rtmps"] == (443, "rtmps")


def test_without_a_tls_secret_nothing_of_tls_is_rendered(default_render):
    objects = manifests(default_render)
    config = relay_toml(objects)
    assert "tls" not in config and "tls_listen" not in config["http"] and "tls_listen" not in config["rtmp"]
    for name, deployment in by_kind(objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert "tls" not in {volume["name"] for volume in pod["volumes"]}, name
        assert "/etc/relay-tls" not in {mount["mountPath"] for mount in containers(deployment)[0]["volumeMounts"]}, name
        assert not {"https", "rtmps"} & set(container_ports(deployment)), name
    for name, service in by_kind(objects, "Service").items():
        assert not {"https", "rtmps"} & set(service_ports(service)), name
    for name, policy in by_kind(objects, "NetworkPolicy").items():
        ports = {port["port"] for rule in policy["spec"]["ingress"] for port in rule["ports"]}
        assert not {"https", "rtmps"} & ports, name
    assert "rtmps://" not in default_render["NOTES.txt"]


def test_turning_tls_on_rolls_the_pods(default_render, tls_render):
    # The new listeners are in relay.toml, so its checksum changes; renewals change only the Secret,
    # whose files the pods reload without rolling.
    def checksum(render):
        deployment = by_kind(manifests(render), "Deployment")["demo-relay-origin"]
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum(tls_render) != checksum(default_render)


def test_tls_the_chart_cannot_serve_is_refused():
    with pytest.raises(RenderError, match=re.escape("config.tls.acme_domains is for a single server")):
        render_chart(CHART, [REQUIRED, TLS_SECRET, {"config": {"tls": {"acme_domains": ["live.example.com"]}}}])
    with pytest.raises(RenderError, match=re.escape("config.http.redirect_to_https needs the HTTPS port")):
        render_chart(CHART, [REQUIRED, {"config": {"http": {"redirect_to_https": True}}}])
    redirected = relay_toml(
        manifests(render_chart(CHART, [REQUIRED, TLS_SECRET, {"config": {"http": {"redirect_to_https": "true"}}}]))
    )
    assert redirected["http"]["redirect_to_https"] is True
    # The reload interval stays the operator's to tune.
    tuned = relay_toml(
        manifests(render_chart(CHART, [REQUIRED, TLS_SECRET, {"config": {"tls": {"reload_interval_ms": 30000}}}]))
    )
    assert tuned["tls"]["reload_interval_ms"] == 30000
