//! Property tests of the catalog and the Registry (issue 9's defences): any
//! sequence of change requests, valid or not, keeps the invariants.
//!
//! - The catalog: names and URIs unique and in number order, each definition
//!   the one its entry names, numbers never reused, every list's version
//!   raised by exactly one per applied step and untouched by a refused
//!   request, which changes nothing at all.
//! - The Registry: a subscriber is told exactly once per applied step, of the
//!   right list, so every subscriber's count of a list's `ListChanged` equals
//!   that list's version minus one, and of resource updates equals the update
//!   steps applied.
//!
//! `PROPTEST_CASES` runs more cases (default 256 for the catalog, 64 for the
//! Registry).

use std::collections::{BTreeSet, HashMap};

use dynamic_mcp_server::catalog::{
    Catalog, CatalogSize, Change, ChangeKind, ChangeRequest, ItemKind, List, ListKind, Prompts,
    Resources, Tools,
};
use dynamic_mcp_server::internals::{
    ApplyError, Audience, RegistryArgs, RegistryHandle, SubscriberMsg,
};
use proptest::prelude::*;
use ractor::{Actor, ActorProcessingErr, ActorRef, call};
use serde_json::{Value, json};

fn kind() -> impl Strategy<Value = ChangeKind> {
    prop_oneof![
        4 => Just(ChangeKind::AddTool),
        3 => Just(ChangeKind::RemoveTool),
        2 => Just(ChangeKind::ChangeTool),
        1 => Just(ChangeKind::Reset),
        2 => Just(ChangeKind::AddPrompt),
        2 => Just(ChangeKind::RemovePrompt),
        1 => Just(ChangeKind::ChangePrompt),
        2 => Just(ChangeKind::AddResource),
        2 => Just(ChangeKind::RemoveResource),
        2 => Just(ChangeKind::UpdateResource),
    ]
}

/// Names and URIs that exist, existed, will exist, or never could.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        (1usize..12).prop_map(Tools::key),
        (1usize..12).prop_map(Prompts::key),
        (1usize..12).prop_map(Resources::key),
        Just("echo04".to_owned()),
        Just(String::new()),
    ]
}

fn request() -> impl Strategy<Value = ChangeRequest> {
    (
        kind(),
        prop::option::weighted(0.3, key()),
        prop::option::weighted(0.2, key()),
        prop::option::weighted(0.3, 0usize..5),
    )
        .prop_map(|(change, name, uri, count)| ChangeRequest {
            change,
            name,
            uri,
            count,
        })
}

fn size() -> impl Strategy<Value = CatalogSize> {
    (
        1usize..6,
        prop::option::of(0usize..4),
        prop::option::of(0usize..4),
    )
        .prop_map(|(tools, prompts, resources)| CatalogSize {
            tools,
            prompts,
            resources,
        })
}

/// The invariants of one list, and the numbers it has ever listed.
fn check_list<I: ItemKind>(
    list: &List<I>,
    ever: &mut BTreeSet<usize>,
    key_of: impl Fn(&I::Definition) -> String,
) {
    let numbers: Vec<usize> = list.entries().iter().map(|e| e.number).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "in number order, no duplicates: {numbers:?}"
    );
    assert_eq!(list.definitions().len(), list.len());
    for (entry, definition) in list.entries().iter().zip(list.definitions()) {
        assert_eq!(key_of(definition), I::key(entry.number));
        assert!(entry.revision >= 1);
        assert_eq!(
            list.find(&I::key(entry.number)),
            Some((numbers.binary_search(&entry.number).unwrap(), *entry))
        );
    }
    ever.extend(numbers);
}

/// Each list's version, `None` for a list that is off.
fn versions(catalog: &Catalog) -> [Option<u64>; 3] {
    ListKind::ALL.map(|list| catalog.version(list))
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_changes_keeps_the_catalog_consistent(
        size in size(),
        requests in prop::collection::vec(request(), 0..60),
    ) {
        let mut catalog = Catalog::new(size);
        let mut ever: [BTreeSet<usize>; 3] = Default::default();
        for request in requests {
            let before = catalog.describe();
            let before_versions = versions(&catalog);
            let applied = Change::try_from(request.clone())
                .and_then(|change| catalog.check(&change).map(|()| change));
            let Ok(change) = applied else {
                prop_assert_eq!(catalog.describe(), before, "a refused request changes nothing");
                continue;
            };
            let highest: [Option<usize>; 3] = ever.clone().map(|e| e.last().copied());
            let mut steps: HashMap<ListKind, u64> = HashMap::new();
            for _ in 0..change.count {
                let applied = catalog.apply(&change).expect("a checked change applies");
                for list in applied.lists {
                    *steps.entry(list).or_default() += 1;
                }
            }
            let after_versions = versions(&catalog);
            for list in ListKind::ALL {
                let (was, is) = (before_versions[list.index()], after_versions[list.index()]);
                prop_assert_eq!(is.zip(was).map(|(is, was)| is - was), was.map(|_| steps.get(&list).copied().unwrap_or(0)), "{:?} {:?}", list, request);
            }
            check_list(&catalog.tools, &mut ever[0], |t| t.name.to_string());
            if let Some(prompts) = &catalog.prompts {
                check_list(prompts, &mut ever[1], |p| p.name.clone());
            }
            if let Some(resources) = &catalog.resources {
                check_list(resources, &mut ever[2], |r| r.uri.clone());
            }
            // An addition takes a number above every number ever listed.
            if request.change == ChangeKind::AddTool {
                let newest = catalog.tools.entries().last().unwrap().number;
                prop_assert!(highest[0].is_none_or(|h| newest > h), "{} reused", newest);
            }
        }
    }
}

/// Stands in for a Session: counts what the Registry tells it, and answers
/// `Describe` with the counts.
struct Listener;

#[derive(Default)]
struct Heard {
    lists: [u64; 3],
    updates: u64,
}

impl Actor for Listener {
    type Msg = SubscriberMsg;
    type State = Heard;
    type Arguments = ();

    async fn pre_start(
        &self,
        _: ActorRef<SubscriberMsg>,
        (): (),
    ) -> Result<Heard, ActorProcessingErr> {
        Ok(Heard::default())
    }

    async fn handle(
        &self,
        _: ActorRef<SubscriberMsg>,
        message: SubscriberMsg,
        heard: &mut Heard,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SubscriberMsg::ListChanged { list, times } => heard.lists[list.index()] += times as u64,
            SubscriberMsg::ResourceUpdated { times, .. } => heard.updates += times as u64,
            SubscriberMsg::Describe(reply) => {
                let _ = reply.send(json!({ "lists": heard.lists, "updates": heard.updates }));
            }
            _ => {}
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_subscriber_is_told_once_per_applied_step(
        size in size(),
        requests in prop::collection::vec(request(), 0..40),
        subscribers in 1usize..4,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (lists, updates, heard) = runtime.block_on(async {
            let args = RegistryArgs {
                size,
                ..RegistryArgs::tools(1)
            };
            let (registry, _) = RegistryHandle::spawn(args).await.unwrap();
            let mut listeners = Vec::new();
            for _ in 0..subscribers {
                let (listener, _) = Actor::spawn(None, Listener, ()).await.unwrap();
                registry.subscribe(&listener).unwrap();
                listeners.push(listener);
            }
            let mut updates = 0u64;
            for request in requests {
                let Ok(change) = Change::try_from(request.clone()) else { continue };
                let count = change.count as u64;
                let result = registry.apply(change, Audience::All).await;
                assert!(!matches!(result, Err(ApplyError::Stopped(_))), "the registry answers");
                if result.is_ok() && request.change == ChangeKind::UpdateResource {
                    updates += count;
                }
            }
            let catalog = registry.snapshot().await.unwrap();
            let mut heard: Vec<Value> = Vec::new();
            for listener in &listeners {
                heard.push(call!(listener, SubscriberMsg::Describe).unwrap());
                listener.stop(None);
            }
            registry.actor().stop(None);
            (versions(&catalog), updates, heard)
        });
        for told in heard {
            for list in ListKind::ALL {
                let expected = lists[list.index()].map_or(0, |version| version - 1);
                prop_assert_eq!(told["lists"][list.index()].as_u64(), Some(expected), "{:?}", list);
            }
            prop_assert_eq!(told["updates"].as_u64(), Some(updates));
        }
    }
}
