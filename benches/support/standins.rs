//! Stand-ins for the upstream release manifests of ingress-nginx, cert-manager, metrics-server and
//! the Kubernetes dashboard. They are NOT upstream's files (the benchmark has no internet): they
//! are written here with the same shape (namespace, CRDs, RBAC, Deployments, Services, Jobs,
//! webhooks) and the object names kat's overlays and additions refer to, but far fewer and
//! smaller objects (upstream's CRDs alone are megabytes of schema), so absolute apply times are
//! lower than with the real files, for kat and kubectl alike.
//!
//! Deliberate differences the testbed forces: webhooks use `failurePolicy: Ignore` (the testbed
//! cannot call a webhook; every call fails at once) and carry a `caBundle` (upstream has it
//! injected by cert-manager's cainjector or ingress-nginx's admission Jobs, which do not run
//! here); metrics-server's APIService is left out (an aggregated API the server cannot reach
//! makes discovery of its group fail for every client and blocks namespace deletion).

#![allow(dead_code)]

/// Never checked: the testbed calls no webhook.
const CA: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==";

fn deployment(ns: &str, name: &str, sa: &str, component: &str, image: &str, port: u16) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
  labels: {{app.kubernetes.io/name: {name}, app.kubernetes.io/component: {component}}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app.kubernetes.io/name: {name}, app.kubernetes.io/component: {component}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: {name}, app.kubernetes.io/component: {component}}}
    spec:
      serviceAccountName: {sa}
      securityContext: {{runAsNonRoot: true, runAsUser: 65532}}
      containers:
      - name: {component}
        image: {image}
        ports: [{{containerPort: {port}, name: main, protocol: TCP}}]
        readinessProbe: {{tcpSocket: {{port: {port}}}}}
        resources: {{requests: {{cpu: 10m, memory: 32Mi}}}}
"#
    )
}

fn service(ns: &str, name: &str, selector: &str, port: u16, target: u16, lb: bool) -> String {
    let kind = if lb { "LoadBalancer" } else { "ClusterIP" };
    format!(
        r#"apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
spec:
  type: {kind}
  selector: {{app.kubernetes.io/name: {selector}}}
  ports:
  - {{name: main, port: {port}, targetPort: {target}, protocol: TCP}}
"#
    )
}

fn account(ns: &str, name: &str, rules: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: {name}, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {name}}}
rules: {rules}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {name}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {name}}}
subjects: [{{kind: ServiceAccount, name: {name}, namespace: {ns}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: {name}, namespace: {ns}}}
rules: [{{apiGroups: [""], resources: [configmaps, secrets], verbs: [get, list, watch, create, update]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: {name}, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {name}}}
subjects: [{{kind: ServiceAccount, name: {name}, namespace: {ns}}}]
"#
    )
}

fn crd(group: &str, kind: &str, plural: &str, scope: &str) -> String {
    let singular = kind.to_lowercase();
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.{group}}}
spec:
  group: {group}
  scope: {scope}
  names: {{kind: {kind}, listKind: {kind}List, plural: {plural}, singular: {singular}}}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {{status: {{}}}}
    schema:
      openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"#
    )
}

fn job(ns: &str, name: &str, image: &str) -> String {
    format!(
        r#"apiVersion: batch/v1
kind: Job
metadata: {{name: {name}, namespace: {ns}}}
spec:
  template:
    metadata: {{labels: {{app.kubernetes.io/name: {name}}}}}
    spec:
      restartPolicy: OnFailure
      serviceAccountName: ingress-nginx-admission
      containers: [{{name: create, image: "{image}", args: [create]}}]
"#
    )
}

fn webhook(
    kind: &str,
    name: &str,
    ns: &str,
    service: &str,
    groups: &str,
    resources: &str,
) -> String {
    format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: {kind}
metadata: {{name: {name}}}
webhooks:
- name: {name}.kat-bench.test
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Ignore
  timeoutSeconds: 10
  clientConfig:
    service: {{namespace: {ns}, name: {service}, path: /validate}}
    caBundle: {CA}
  rules:
  - apiGroups: [{groups}]
    apiVersions: ["*"]
    operations: [CREATE, UPDATE]
    resources: [{resources}]
"#
    )
}

const ALL_READ: &str = r#"[{apiGroups: ["*"], resources: ["*"], verbs: [get, list, watch]}]"#;

fn docs(parts: &[String]) -> String {
    parts.join("---\n")
}

/// ingress-nginx `deploy/static/provider/cloud/deploy.yaml`, in shape.
pub fn ingress_nginx() -> String {
    let ns = "ingress-nginx";
    docs(&[
        format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"),
        account(ns, "ingress-nginx", ALL_READ),
        account(ns, "ingress-nginx-admission", ALL_READ),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: ingress-nginx-controller, namespace: {ns}}}\ndata: {{allow-snippet-annotations: \"false\"}}\n"),
        format!(
            r#"apiVersion: v1
kind: Service
metadata:
  name: ingress-nginx-controller
  namespace: {ns}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {{app.kubernetes.io/name: ingress-nginx-controller}}
  ports:
  - {{name: http, port: 80, targetPort: http, protocol: TCP, appProtocol: http}}
  - {{name: https, port: 443, targetPort: https, protocol: TCP, appProtocol: https}}
"#
        ),
        service(ns, "ingress-nginx-controller-admission", "ingress-nginx-controller", 443, 8443, false),
        deployment(ns, "ingress-nginx-controller", "ingress-nginx", "controller", "registry.k8s.io/ingress-nginx/controller:v1.12.1", 80),
        job(ns, "ingress-nginx-admission-create", "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.5.2"),
        job(ns, "ingress-nginx-admission-patch", "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.5.2"),
        "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: nginx}\nspec: {controller: k8s.io/ingress-nginx}\n".to_string(),
        webhook("ValidatingWebhookConfiguration", "ingress-nginx-admission", ns, "ingress-nginx-controller-admission", "networking.k8s.io", "ingresses"),
    ])
}

/// cert-manager's `cert-manager.yaml`, in shape: its six CRDs, three Deployments, the webhook.
pub fn cert_manager() -> String {
    let ns = "cert-manager";
    let mut parts = vec![format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"
    )];
    for (group, kind, plural, scope) in [
        (
            "cert-manager.io",
            "Certificate",
            "certificates",
            "Namespaced",
        ),
        (
            "cert-manager.io",
            "CertificateRequest",
            "certificaterequests",
            "Namespaced",
        ),
        ("cert-manager.io", "Issuer", "issuers", "Namespaced"),
        (
            "cert-manager.io",
            "ClusterIssuer",
            "clusterissuers",
            "Cluster",
        ),
        ("acme.cert-manager.io", "Order", "orders", "Namespaced"),
        (
            "acme.cert-manager.io",
            "Challenge",
            "challenges",
            "Namespaced",
        ),
    ] {
        parts.push(crd(group, kind, plural, scope));
    }
    for (name, component, image, port, svc) in [
        (
            "cert-manager",
            "controller",
            "quay.io/jetstack/cert-manager-controller:v1.16.2",
            9402,
            true,
        ),
        (
            "cert-manager-cainjector",
            "cainjector",
            "quay.io/jetstack/cert-manager-cainjector:v1.16.2",
            9402,
            false,
        ),
        (
            "cert-manager-webhook",
            "webhook",
            "quay.io/jetstack/cert-manager-webhook:v1.16.2",
            10250,
            true,
        ),
    ] {
        parts.push(account(ns, name, ALL_READ));
        parts.push(deployment(ns, name, name, component, image, port));
        if svc {
            let port_out = if component == "webhook" { 443 } else { 9402 };
            parts.push(service(ns, name, name, port_out, port, false));
        }
    }
    let resources = "\"*/*\"";
    parts.push(webhook(
        "MutatingWebhookConfiguration",
        "cert-manager-webhook",
        ns,
        "cert-manager-webhook",
        "cert-manager.io, acme.cert-manager.io",
        resources,
    ));
    parts.push(webhook(
        "ValidatingWebhookConfiguration",
        "cert-manager-webhook",
        ns,
        "cert-manager-webhook",
        "cert-manager.io, acme.cert-manager.io",
        resources,
    ));
    docs(&parts)
}

/// metrics-server's `components.yaml`, in shape, without its APIService (see the module docs).
pub fn metrics_server() -> String {
    let ns = "kube-system";
    docs(&[
        account(
            ns,
            "metrics-server",
            r#"[{apiGroups: [""], resources: [nodes/metrics, pods, nodes], verbs: [get, list, watch]}]"#,
        ),
        format!(
            r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:aggregated-metrics-reader
  labels: {{rbac.authorization.k8s.io/aggregate-to-view: "true", rbac.authorization.k8s.io/aggregate-to-admin: "true"}}
rules: [{{apiGroups: [metrics.k8s.io], resources: [pods, nodes], verbs: [get, list, watch]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: metrics-server-auth-reader, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}}
subjects: [{{kind: ServiceAccount, name: metrics-server, namespace: {ns}}}]
"#
        ),
        service(ns, "metrics-server", "metrics-server", 443, 10250, false),
        deployment(
            ns,
            "metrics-server",
            "metrics-server",
            "metrics-server",
            "registry.k8s.io/metrics-server/metrics-server:v0.7.2",
            10250,
        ),
    ])
}

/// The dashboard's `recommended.yaml`, in shape.
pub fn dashboard() -> String {
    let ns = "kubernetes-dashboard";
    let mut parts = vec![
        format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"),
        account(ns, "kubernetes-dashboard", ALL_READ),
        account(ns, "dashboard-metrics-scraper", ALL_READ),
        service(ns, "kubernetes-dashboard", "kubernetes-dashboard", 443, 8443, false),
        service(ns, "dashboard-metrics-scraper", "dashboard-metrics-scraper", 8000, 8000, false),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: kubernetes-dashboard-settings, namespace: {ns}}}\n"),
        deployment(ns, "kubernetes-dashboard", "kubernetes-dashboard", "dashboard", "docker.io/kubernetesui/dashboard:v2.7.0", 8443),
        deployment(ns, "dashboard-metrics-scraper", "dashboard-metrics-scraper", "scraper", "docker.io/kubernetesui/metrics-scraper:v1.0.8", 8000),
    ];
    for s in [
        "kubernetes-dashboard-certs",
        "kubernetes-dashboard-csrf",
        "kubernetes-dashboard-key-holder",
    ] {
        parts.push(format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: {s}, namespace: {ns}}}\ntype: Opaque\n"
        ));
    }
    docs(&parts)
}
