//! Work-record kinds, per-kind counts and reassignment targets.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RecordKind {
    Lead,
    Contact,
    Customer,
    Task,
    Conversation,
    Note,
    Company,
}

impl RecordKind {
    /// Kinds a reassignment targets. Conversations follow their lead,
    /// contact or company; notes never move.
    pub const MOVABLE: [RecordKind; 5] = [
        RecordKind::Lead,
        RecordKind::Contact,
        RecordKind::Company,
        RecordKind::Customer,
        RecordKind::Task,
    ];
    /// Kinds a conversation can be attached to (as in Kommo).
    pub const PARENTS: [RecordKind; 3] =
        [RecordKind::Lead, RecordKind::Contact, RecordKind::Company];
    /// Every kind.
    pub const ALL: [RecordKind; 7] = [
        RecordKind::Lead,
        RecordKind::Contact,
        RecordKind::Company,
        RecordKind::Customer,
        RecordKind::Task,
        RecordKind::Conversation,
        RecordKind::Note,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Lead => "LEAD",
            RecordKind::Contact => "CONTACT",
            RecordKind::Customer => "CUSTOMER",
            RecordKind::Task => "TASK",
            RecordKind::Conversation => "CONVERSATION",
            RecordKind::Note => "NOTE",
            RecordKind::Company => "COMPANY",
        }
    }

    pub fn from_db(s: &str) -> Option<RecordKind> {
        Some(match s {
            "LEAD" => RecordKind::Lead,
            "CONTACT" => RecordKind::Contact,
            "CUSTOMER" => RecordKind::Customer,
            "TASK" => RecordKind::Task,
            "CONVERSATION" => RecordKind::Conversation,
            "NOTE" => RecordKind::Note,
            "COMPANY" => RecordKind::Company,
            _ => return None,
        })
    }

    pub fn is_movable(self) -> bool {
        Self::MOVABLE.contains(&self)
    }
}

/// One entry of the reassignment journal: records of one kind that went
/// from one user to another at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub id: i64,
    pub kind: RecordKind,
    pub from_user_id: String,
    pub to_user_id: String,
    pub job_id: Option<String>,
    pub moved_at: NaiveDateTime,
    /// The records' ids (internal), ascending.
    pub record_ids: Vec<i64>,
}

/// A number per record kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordCounts {
    pub leads: i64,
    pub contacts: i64,
    pub customers: i64,
    pub tasks: i64,
    pub conversations: i64,
    pub notes: i64,
    /// Absent from counts stored before companies were a kind.
    #[serde(default)]
    pub companies: i64,
}

impl RecordCounts {
    pub fn get(&self, kind: RecordKind) -> i64 {
        match kind {
            RecordKind::Lead => self.leads,
            RecordKind::Contact => self.contacts,
            RecordKind::Customer => self.customers,
            RecordKind::Task => self.tasks,
            RecordKind::Conversation => self.conversations,
            RecordKind::Note => self.notes,
            RecordKind::Company => self.companies,
        }
    }

    pub fn add(&mut self, kind: RecordKind, n: i64) {
        match kind {
            RecordKind::Lead => self.leads += n,
            RecordKind::Contact => self.contacts += n,
            RecordKind::Customer => self.customers += n,
            RecordKind::Task => self.tasks += n,
            RecordKind::Conversation => self.conversations += n,
            RecordKind::Note => self.notes += n,
            RecordKind::Company => self.companies += n,
        }
    }

    pub fn merge(&mut self, other: &RecordCounts) {
        for kind in RecordKind::ALL {
            self.add(kind, other.get(kind));
        }
    }

    pub fn total(&self) -> i64 {
        RecordKind::ALL.iter().map(|&kind| self.get(kind)).sum()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One pass of a job: the records of `kinds`, and the conversations
/// attached to a `conversation_parents` kind, go to `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass<'a> {
    pub target: &'a str,
    pub kinds: Vec<RecordKind>,
    pub conversation_parents: Vec<RecordKind>,
}

/// Who receives each movable kind. Built from a default target plus
/// per-kind overrides; kinds without a target stay with their owner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets(BTreeMap<RecordKind, String>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error(
        "only LEAD, CONTACT, COMPANY, CUSTOMER and TASK can be targeted (conversations follow their lead, contact or company; notes never move)"
    )]
    NotMovable,
    #[error("this kind is listed twice")]
    Duplicate,
}

impl Targets {
    /// `by_kind` entries win over `default`. Errors carry the index of the
    /// offending `by_kind` entry.
    pub fn new(
        default: Option<String>,
        by_kind: Vec<(RecordKind, String)>,
    ) -> Result<Targets, (usize, TargetError)> {
        let mut map = BTreeMap::new();
        for (i, (kind, target)) in by_kind.into_iter().enumerate() {
            if !kind.is_movable() {
                return Err((i, TargetError::NotMovable));
            }
            if map.insert(kind, target).is_some() {
                return Err((i, TargetError::Duplicate));
            }
        }
        if let Some(default) = default {
            for kind in RecordKind::MOVABLE {
                map.entry(kind).or_insert_with(|| default.clone());
            }
        }
        Ok(Targets(map))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn target(&self, kind: RecordKind) -> Option<&str> {
        self.0.get(&kind).map(String::as_str)
    }

    /// The passes a job makes over a user's records: one per receiving
    /// user, over every kind that goes to it (and the conversations of its
    /// lead/contact kinds). Records of different kinds lie interleaved in
    /// creation order, so one pass per kind would rewrite the same table
    /// pages once per kind; one pass per target writes each page once.
    pub fn passes(&self) -> Vec<Pass<'_>> {
        let mut passes: Vec<Pass<'_>> = Vec::new();
        for kind in RecordKind::MOVABLE {
            let Some(target) = self.target(kind) else {
                continue;
            };
            let at = match passes.iter().position(|p| p.target == target) {
                Some(at) => at,
                None => {
                    passes.push(Pass {
                        target,
                        kinds: Vec::new(),
                        conversation_parents: Vec::new(),
                    });
                    passes.len() - 1
                }
            };
            passes[at].kinds.push(kind);
            if RecordKind::PARENTS.contains(&kind) {
                passes[at].conversation_parents.push(kind);
            }
        }
        passes
    }

    /// Distinct receiving users.
    pub fn users(&self) -> Vec<&str> {
        let mut users: Vec<&str> = self.0.values().map(String::as_str).collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// What moves, given the subject's records per kind and its
    /// conversations per parent kind.
    pub fn moved(
        &self,
        held: &RecordCounts,
        conversations_by_parent: &[(RecordKind, i64)],
    ) -> RecordCounts {
        let mut moved = RecordCounts::default();
        for kind in RecordKind::MOVABLE {
            if self.target(kind).is_some() {
                moved.add(kind, held.get(kind));
            }
        }
        for (parent, n) in conversations_by_parent {
            if self.target(*parent).is_some() {
                moved.add(RecordKind::Conversation, *n);
            }
        }
        moved
    }

    /// Kinds the subject holds that have no target (removal needs none).
    pub fn uncovered(
        &self,
        held: &RecordCounts,
        conversations_by_parent: &[(RecordKind, i64)],
    ) -> Vec<RecordKind> {
        let mut missing: Vec<RecordKind> = RecordKind::MOVABLE
            .into_iter()
            .filter(|k| held.get(*k) > 0 && self.target(*k).is_none())
            .collect();
        if conversations_by_parent
            .iter()
            .any(|(p, n)| *n > 0 && self.target(*p).is_none())
        {
            missing.push(RecordKind::Conversation);
        }
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_kind_targets_win_over_the_default() {
        let t = Targets::new(Some("a".into()), vec![(RecordKind::Task, "b".into())]).unwrap();
        assert_eq!(t.target(RecordKind::Lead), Some("a"));
        assert_eq!(t.target(RecordKind::Task), Some("b"));
        assert_eq!(t.users(), vec!["a", "b"]);
    }

    #[test]
    fn one_pass_per_receiving_user() {
        let one = Targets::new(Some("a".into()), vec![]).unwrap();
        assert_eq!(
            one.passes(),
            vec![Pass {
                target: "a",
                kinds: RecordKind::MOVABLE.to_vec(),
                conversation_parents: RecordKind::PARENTS.to_vec(),
            }]
        );
        let split = Targets::new(
            None,
            vec![
                (RecordKind::Contact, "b".into()),
                (RecordKind::Lead, "a".into()),
                (RecordKind::Task, "b".into()),
            ],
        )
        .unwrap();
        assert_eq!(
            split.passes(),
            vec![
                Pass {
                    target: "a",
                    kinds: vec![RecordKind::Lead],
                    conversation_parents: vec![RecordKind::Lead],
                },
                Pass {
                    target: "b",
                    kinds: vec![RecordKind::Contact, RecordKind::Task],
                    conversation_parents: vec![RecordKind::Contact],
                },
            ]
        );
        assert!(Targets::default().passes().is_empty());
    }

    #[test]
    fn conversations_and_notes_cannot_be_targeted() {
        assert_eq!(
            Targets::new(None, vec![(RecordKind::Note, "a".into())]),
            Err((0, TargetError::NotMovable))
        );
        assert_eq!(
            Targets::new(
                None,
                vec![
                    (RecordKind::Lead, "a".into()),
                    (RecordKind::Lead, "b".into())
                ]
            ),
            Err((1, TargetError::Duplicate))
        );
    }

    #[test]
    fn moved_and_uncovered() {
        let t = Targets::new(None, vec![(RecordKind::Lead, "a".into())]).unwrap();
        let held = RecordCounts {
            leads: 3,
            tasks: 2,
            conversations: 4,
            notes: 9,
            ..Default::default()
        };
        let by_parent = [(RecordKind::Lead, 3), (RecordKind::Contact, 1)];
        let moved = t.moved(&held, &by_parent);
        assert_eq!(
            (moved.leads, moved.tasks, moved.conversations, moved.notes),
            (3, 0, 3, 0)
        );
        assert_eq!(
            t.uncovered(&held, &by_parent),
            vec![RecordKind::Task, RecordKind::Conversation]
        );
    }
}

/// A record of another CRM service, known here by its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkRecord {
    pub id: i64,
    pub account_id: String,
    pub kind: RecordKind,
    pub external_id: String,
    /// None: its owner was removed (notes only).
    pub owner_user_id: Option<String>,
    pub owner_is_former: bool,
    pub parent_kind: Option<RecordKind>,
    pub parent_external_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}
