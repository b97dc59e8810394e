//! What Kubernetes leaves behind kat's back, planted by the test: a Service's NLB tagged for the
//! cluster with its `k8s-elb-*` security group (which the nodes' group admits), the AWS Load
//! Balancer Controller's target group and security group (its `elbv2.k8s.aws/cluster` tag), two
//! classic ELBs (one of which "Kubernetes" deletes while kat waits), an unattached ENI in the VPC
//! and a PersistentVolumeClaim's EBS volume. `down` waits, deletes what is still there before the
//! node groups go, and still ends at zero, saying so.
#![cfg(feature = "eks")]

mod common;
mod common_eks;

use kat_provider_eks::sdk::ec2::types::{
    Filter, IpPermission, ResourceType, Tag, TagSpecification, UserIdGroupPair,
};
use kat_provider_eks::sdk::elb::types::{Listener, Tag as ClassicTag};
use kat_provider_eks::sdk::elbv2::types::{
    LoadBalancerTypeEnum, ProtocolEnum, Tag as LbTag, TargetTypeEnum,
};
use kat_provider_eks::Aws;

use common_eks::*;

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

#[test]
fn down_removes_what_kubernetes_made_and_ends_at_zero() {
    let t = Eks::new("k8s", "");
    let (code, _, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    let ec2 = &t.aws.ec2;
    let rt = &t.rt;
    let owned = "kubernetes.io/cluster/kat-k8s";
    let vpc = t.vpcs()[0].clone();
    let subnets = rt
        .block_on(
            ec2.describe_subnets()
                .filters(filter("vpc-id", &vpc))
                .send(),
        )
        .unwrap();
    let public: Vec<String> = subnets
        .subnets()
        .iter()
        .filter(|s| {
            s.tags()
                .iter()
                .any(|t| t.key() == Some("kubernetes.io/role/elb"))
        })
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect();
    let private = subnets
        .subnets()
        .iter()
        .find(|s| {
            s.tags()
                .iter()
                .any(|t| t.key() == Some("kubernetes.io/role/internal-elb"))
        })
        .unwrap()
        .clone();

    // The Service's security group, admitted by the nodes' group (as the cloud provider does).
    let lb_sg = rt
        .block_on(
            ec2.create_security_group()
                .group_name("k8s-elb-a1b2c3d4")
                .description("Security group for Kubernetes ELB a1b2c3d4 (default/web)")
                .vpc_id(&vpc)
                .tag_specifications(
                    TagSpecification::builder()
                        .resource_type(ResourceType::SecurityGroup)
                        .tags(tag(owned, "owned"))
                        .build(),
                )
                .send(),
        )
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    let nodes_sg = rt
        .block_on(
            ec2.describe_security_groups()
                .filters(filter("group-name", "kat-k8s-cluster"))
                .send(),
        )
        .unwrap()
        .security_groups()[0]
        .group_id()
        .unwrap()
        .to_string();
    rt.block_on(
        ec2.authorize_security_group_ingress()
            .group_id(&nodes_sg)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(30080)
                    .to_port(30080)
                    .user_id_group_pairs(UserIdGroupPair::builder().group_id(&lb_sg).build())
                    .build(),
            )
            .send(),
    )
    .unwrap();
    let lb = rt
        .block_on(
            t.aws
                .elbv2
                .create_load_balancer()
                .name("k8s-default-web-a1b2c3d4")
                .r#type(LoadBalancerTypeEnum::Network)
                .set_subnets(Some(public.clone()))
                .security_groups(&lb_sg)
                .tags(LbTag::builder().key(owned).value("owned").build())
                .send(),
        )
        .unwrap();
    assert_eq!(lb.load_balancers().len(), 1);
    rt.block_on(
        ec2.create_network_interface()
            .subnet_id(private.subnet_id().unwrap())
            .description("aws-K8S-i-0123456789abcdef0")
            .send(),
    )
    .unwrap();
    rt.block_on(
        ec2.create_volume()
            .availability_zone(private.availability_zone().unwrap())
            .size(10)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Volume)
                    .tags(tag(owned, "owned"))
                    .tags(tag("kubernetes.io/created-for/pvc/name", "data-postgres-0"))
                    .build(),
            )
            .send(),
    )
    .unwrap();
    // The load balancer controller's: a target group and the backend security group.
    let controller = LbTag::builder()
        .key("elbv2.k8s.aws/cluster")
        .value("kat-k8s")
        .build();
    rt.block_on(
        t.aws
            .elbv2
            .create_target_group()
            .name("k8s-default-web-0a1b2c3d4e")
            .protocol(ProtocolEnum::Tcp)
            .port(30080)
            .vpc_id(&vpc)
            .target_type(TargetTypeEnum::Instance)
            .tags(controller)
            .send(),
    )
    .unwrap();
    rt.block_on(
        ec2.create_security_group()
            .group_name("k8s-traffic-katk8s-0a1b2c3d4e")
            .description("[k8s] Shared Backend SecurityGroup for LoadBalancer")
            .vpc_id(&vpc)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::SecurityGroup)
                    .tags(tag("elbv2.k8s.aws/cluster", "kat-k8s"))
                    .build(),
            )
            .send(),
    )
    .unwrap();
    // Classic ELBs of the in-tree cloud provider.
    for name in ["a0classicgone", "a0classicstays"] {
        rt.block_on(
            t.aws
                .elb
                .create_load_balancer()
                .load_balancer_name(name)
                .listeners(
                    Listener::builder()
                        .protocol("TCP")
                        .load_balancer_port(80)
                        .instance_port(30081)
                        .build()
                        .unwrap(),
                )
                .subnets(&public[0])
                .tags(
                    ClassicTag::builder()
                        .key(owned)
                        .value("owned")
                        .build()
                        .unwrap(),
                )
                .send(),
        )
        .unwrap();
    }
    let found = t.leftovers();
    for kind in [
        "load-balancer",
        "ebs-volume",
        "target-group",
        "classic-load-balancer",
    ] {
        assert!(found.iter().any(|l| l.kind == kind), "{kind}: {found:#?}");
    }

    // While kat waits, "Kubernetes" (its service controller) deletes one classic ELB itself.
    let (url, region) = (t.moto.url.clone(), t.region);
    let controller = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(3));
        let rt = tokio::runtime::Runtime::new().unwrap();
        let aws = rt.block_on(Aws::with_endpoint(&url, region));
        rt.block_on(
            aws.elb
                .delete_load_balancer()
                .load_balancer_name("a0classicgone")
                .send(),
        )
        .unwrap();
    });
    let (code, events, stderr, _) = t.run(&["down"]);
    controller.join().unwrap();
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(result(&events), "ok");
    let said = Eks::progress_with(&events, "not by kat");
    for kind in [
        "load-balancer/",
        "target-group/",
        "classic-load-balancer/a0classicstays",
        "security-group/",
        "k8s-traffic-katk8s",
        "ebs-volume/",
        "network-interface/",
    ] {
        assert!(
            said.iter().any(|m| m.contains(kind)),
            "a progress line says kat deletes a {kind} it did not make: {said:#?}"
        );
    }
    assert!(
        !said.iter().any(|m| m.contains("a0classicgone")),
        "what Kubernetes deleted itself kat only waited for: {said:#?}"
    );
    // It waited, and deleted what was still there before any node group went.
    let steps = Eks::progress_with(&events, "");
    assert!(
        steps
            .iter()
            .any(|m| m.starts_with("waiting for what Kubernetes made")),
        "{steps:#?}"
    );
    let at = |text: &str| {
        steps
            .iter()
            .position(|m| m.contains(text))
            .unwrap_or_else(|| panic!("{text}: {steps:#?}"))
    };
    let nodegroup = at("delete nodegroup/");
    for early in [
        "delete load-balancer/",
        "delete classic-load-balancer/",
        "delete target-group/",
        "delete ebs-volume/",
    ] {
        assert!(at(early) < nodegroup, "{early} before the node group");
    }
    assert!(
        steps[at("delete load-balancer/")].contains("still there after"),
        "{steps:#?}"
    );
    t.assert_nothing_left();
    let tgs = rt
        .block_on(t.aws.elbv2.describe_target_groups().send())
        .unwrap();
    assert!(tgs.target_groups().is_empty(), "{:#?}", tgs.target_groups());
    let classic = rt
        .block_on(t.aws.elb.describe_load_balancers().send())
        .unwrap();
    assert!(classic.load_balancer_descriptions().is_empty());
    let lbs = rt
        .block_on(t.aws.elbv2.describe_load_balancers().send())
        .unwrap();
    assert!(lbs.load_balancers().is_empty());
    let vols = rt.block_on(ec2.describe_volumes().send()).unwrap();
    assert!(vols.volumes().is_empty(), "{:#?}", vols.volumes());
    assert_eq!(t.count_tagged()["vpcs"], 0);
}
