//! The operator toolkit (SPEC O2–O4): one owner per chat, an explicit join for
//! supervisors and admins, and transfers to another operator or a department.
//!
//! - O4: in an attended chat only the owner (`operatorId`, who accepted it or received
//!   it by transfer) and the operators who joined it write ([`require_writer`]);
//!   anyone else gets 403 `not_chat_owner`. A missed chat has no owner.
//! - Joining (`POST …/chats/{id}/join`) adds the supervisor or admin to
//!   `chat_participants` and puts a system line in the transcript.
//! - A transfer (`POST …/chats/{id}/transfer`) changes the owner (and the department)
//!   in one conditional update, records the hand-over in `chat_transfers` and the
//!   lifecycle record (`transferred`), puts a system line in the transcript for the
//!   visitor, and tells the consoles `chat.transferred`.
//!
//! A transfer goes only to someone online ([`Chat::transfer_candidates`]): available,
//! allowed to take the department and with a console open on some node (SPEC V1).

use crate::chats::{ChatState, ChatView};
use crate::events::{self, ChatEvent};
use crate::live::LiveEvent;
use crate::messages::{self, Message, SystemKind};
use crate::operators::{OperatorCtx, Role};
use crate::Chat;
use madoguchi_core::{Db, Error, ErrorCode, Result};
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

/// A transfer note has at most this many characters.
pub const MAX_NOTE_CHARS: usize = 1000;
/// The highest cap of concurrent chats per operator a portal may set.
pub const MAX_CAP: i64 = 1000;

/// O3: how a portal offers new chats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Routing {
    /// Every operator who may take the chat sees it; the first to accept wins (C2).
    #[default]
    Broadcast,
    /// Offered to one operator at a time, taking turns.
    RoundRobin,
    /// Offered to the operator holding the fewest chats (turns break ties).
    LeastBusy,
}

impl Routing {
    pub fn as_str(self) -> &'static str {
        match self {
            Routing::Broadcast => "broadcast",
            Routing::RoundRobin => "round_robin",
            Routing::LeastBusy => "least_busy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "broadcast" => Some(Routing::Broadcast),
            "round_robin" => Some(Routing::RoundRobin),
            "least_busy" => Some(Routing::LeastBusy),
            _ => None,
        }
    }
}

/// Stores the routing and the cap given (absent ones stay).
pub(crate) async fn set_routing(
    db: &Db,
    portal_id: &str,
    routing: Option<Routing>,
    cap: Option<Option<i64>>,
) -> Result<()> {
    if let Some(r) = routing {
        sqlx::query("update chat_portals set routing = $1 where id = $2")
            .bind(r.as_str())
            .bind(portal_id)
            .execute(db.pool())
            .await?;
    }
    if let Some(cap) = cap {
        sqlx::query("update chat_portals set max_chats_per_operator = $1 where id = $2")
            .bind(cap)
            .bind(portal_id)
            .execute(db.pool())
            .await?;
    }
    Ok(())
}

/// O3 inside a write transaction: offers the waiting chat (not offered yet) to the next
/// operator by `routing`, skipping those at `cap` (attended chats plus open offers).
/// Answers the operator, or `None` for broadcast or when nobody is under the cap.
pub(crate) async fn offer_in(
    tx: &mut madoguchi_core::WriteTx,
    portal_id: &str,
    routing: Routing,
    cap: Option<i64>,
    chat_id: &str,
    department_id: Option<&str>,
) -> Result<Option<String>> {
    if routing == Routing::Broadcast {
        return Ok(None);
    }
    // The availability status: who is offered a chat stays a database decision (C5),
    // whatever consoles this node happens to know about.
    let rows = sqlx::query(
        "select o.user_id, o.last_offered, (select count(*) from chat_chats c where c.portal_id = o.portal_id \
         and ((c.state = 'attended' and c.operator_id = o.user_id) \
         or (c.state = 'waiting' and c.offered_to = o.user_id))) as load \
         from chat_operators o where o.portal_id = $1 and o.status = 'available' \
         and (o.role in ('admin', 'supervisor') or exists (select 1 from chat_operator_departments d \
         where d.portal_id = o.portal_id and d.user_id = o.user_id and d.department_id = $2)) \
         order by o.created_at, o.user_id",
    )
    .bind(portal_id)
    .bind(department_id.unwrap_or(""))
    .fetch_all(tx.conn())
    .await?;
    let mut best: Option<(i64, i64, String)> = None;
    for r in &rows {
        let user_id: String = r.try_get("user_id")?;
        let turn: i64 = r.try_get("last_offered")?;
        let load: i64 = r.try_get("load")?;
        if cap.is_some_and(|cap| load >= cap) {
            continue;
        }
        let key = match routing {
            Routing::LeastBusy => (load, turn),
            _ => (0, turn),
        };
        if best.as_ref().is_none_or(|(l, t, _)| key < (*l, *t)) {
            best = Some((key.0, key.1, user_id));
        }
    }
    let Some((_, _, user_id)) = best else {
        return Ok(None);
    };
    let done = sqlx::query(
        "update chat_chats set offered_to = $1 where id = $2 and state = 'waiting' and offered_to is null",
    )
    .bind(&user_id)
    .bind(chat_id)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if done == 0 {
        return Ok(None);
    }
    sqlx::query(
        "update chat_operators set last_offered = (select coalesce(max(x.last_offered), 0) + 1 \
         from chat_operators x where x.portal_id = $1) where portal_id = $1 and user_id = $2",
    )
    .bind(portal_id)
    .bind(&user_id)
    .execute(tx.conn())
    .await?;
    Ok(Some(user_id))
}

/// The latest hand-over of a chat (`transfer` of the chat view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferView {
    pub from_operator_id: Option<String>,
    pub from_operator_name: Option<String>,
    pub to_operator_id: Option<String>,
    pub to_operator_name: Option<String>,
    pub to_department_id: Option<String>,
    /// The note for the receiver (operators only; the visitor never sees it).
    pub note: Option<String>,
    #[serde(serialize_with = "crate::serde_time::ms")]
    #[schema(value_type = String)]
    pub created_at: i64,
}

/// `POST …/chats/{id}/transfer`: to an operator, to a department, or to an operator
/// of a department.
#[derive(Debug, Clone, Default)]
pub struct TransferRequest {
    pub operator_id: Option<String>,
    pub department_id: Option<String>,
    pub note: Option<String>,
}

/// An operator who may take a chat now, with how many chats they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub user_id: String,
    pub name: String,
    /// Attended chats they own now.
    pub open_chats: i64,
}

/// Whether `user_id` writes in `chat`: its owner or a participant who joined.
pub fn is_writer(user_id: &str, chat: &ChatView) -> bool {
    chat.operator_id.as_deref() == Some(user_id)
        || chat.participant_ids.iter().any(|p| p == user_id)
}

/// O4: only the owner and those who joined write in an attended chat (a missed chat
/// has no owner; other states are refused by the message's own state check).
pub(crate) fn require_writer(op: &OperatorCtx, chat: &ChatView) -> Result<()> {
    if chat.state != ChatState::Attended || is_writer(&op.user_id, chat) {
        Ok(())
    } else {
        Err(Error::new(ErrorCode::NotChatOwner))
    }
}

/// O4: an attended chat is ended by its owner, a participant, or a supervisor or admin.
pub(crate) fn require_closer(op: &OperatorCtx, chat: &ChatView) -> Result<()> {
    if op.role.sees_all_departments() {
        Ok(())
    } else {
        require_writer(op, chat)
    }
}

/// Fills `participant_ids` and `transfer` of the chats (two queries for any number).
pub(crate) async fn fill(db: &Db, chats: &mut [ChatView]) -> Result<()> {
    if chats.is_empty() {
        return Ok(());
    }
    let list = db.backend().placeholders(1, chats.len());
    let sql = format!(
        "select chat_id, user_id from chat_participants where chat_id in ({list}) \
         order by joined_at, user_id"
    );
    let mut query = sqlx::query(&sql);
    for c in chats.iter() {
        query = query.bind(c.id.clone());
    }
    for r in query.fetch_all(db.pool()).await? {
        let chat_id: String = r.try_get("chat_id")?;
        if let Some(c) = chats.iter_mut().find(|c| c.id == chat_id) {
            c.participant_ids.push(r.try_get("user_id")?);
        }
    }
    let sql = format!(
        "select t.chat_id, t.from_user_id, fu.name as from_name, t.to_user_id, tu.name as to_name, \
         t.to_department_id, t.note, t.created_at from chat_transfers t \
         left join users fu on fu.id = t.from_user_id left join users tu on tu.id = t.to_user_id \
         where t.chat_id in ({list}) order by t.created_at, t.id"
    );
    let mut query = sqlx::query(&sql);
    for c in chats.iter() {
        query = query.bind(c.id.clone());
    }
    for r in query.fetch_all(db.pool()).await? {
        let chat_id: String = r.try_get("chat_id")?;
        if let Some(c) = chats.iter_mut().find(|c| c.id == chat_id) {
            // Oldest first: the last one read is the latest.
            c.transfer = Some(TransferView {
                from_operator_id: r.try_get("from_user_id")?,
                from_operator_name: r.try_get("from_name")?,
                to_operator_id: r.try_get("to_user_id")?,
                to_operator_name: r.try_get("to_name")?,
                to_department_id: r.try_get("to_department_id")?,
                note: r.try_get("note")?,
                created_at: r.try_get("created_at")?,
            });
        }
    }
    Ok(())
}

/// Who may take a chat of `department_id` by availability: available operators of the
/// department, admins and supervisors (whether or not a console is open).
async fn available_candidates(
    db: &Db,
    portal_id: &str,
    department_id: Option<&str>,
) -> Result<Vec<Candidate>> {
    let rows = sqlx::query(
        "select o.user_id, u.name, (select count(*) from chat_chats c where c.portal_id = o.portal_id \
         and c.state = 'attended' and c.operator_id = o.user_id) as open_chats \
         from chat_operators o join users u on u.id = o.user_id \
         where o.portal_id = $1 and o.status = 'available' \
         and (o.role in ('admin', 'supervisor') or exists (select 1 from chat_operator_departments d \
         where d.portal_id = o.portal_id and d.user_id = o.user_id and d.department_id = $2)) \
         order by o.created_at, o.user_id",
    )
    .bind(portal_id)
    .bind(department_id.unwrap_or(""))
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Candidate {
                user_id: r.try_get("user_id")?,
                name: r.try_get("name")?,
                open_chats: r.try_get("open_chats")?,
            })
        })
        .collect()
}

fn trimmed(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn not_attended() -> Error {
    Error::new(ErrorCode::Conflict).with_message("chat-error-not-attended")
}

impl Chat {
    /// O4: a supervisor or admin joins a chat another operator owns; the transcript
    /// shows it. Joining again (or one's own chat) changes nothing.
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn join_chat(&self, op: &OperatorCtx, chat_id: &str) -> Result<ChatView> {
        let chat = self.chat_for_operator(op, chat_id).await?;
        if !op.role.sees_all_departments() {
            return Err(Error::forbidden().with_message("chat-error-join-role"));
        }
        if chat.state != ChatState::Attended {
            return Err(not_attended());
        }
        if is_writer(&op.user_id, &chat) {
            return Ok(chat);
        }
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let added = sqlx::query(
            "insert into chat_participants (chat_id, user_id, joined_at) values ($1, $2, $3) \
             on conflict (chat_id, user_id) do nothing",
        )
        .bind(&chat.id)
        .bind(&op.user_id)
        .bind(now)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if added == 0 {
            drop(tx);
            return self.chat_for_operator(op, chat_id).await;
        }
        let Some(next) =
            crate::chats::store::next_seq(&mut tx, &chat.id, &[ChatState::Attended], now).await?
        else {
            return Err(not_attended());
        };
        let line = crate::chats::system_message(
            &chat.id,
            next.seq,
            SystemKind::Participant,
            Some(op.name.clone()),
            now,
        );
        messages::store::insert(&mut tx, &line, None).await?;
        let event = events::record(
            &mut tx,
            &op.portal.id,
            &chat.id,
            "joined",
            Some(&op.user_id),
            now,
        )
        .await?;
        tx.commit().await?;
        self.after_toolkit_change(&chat, &line, event, "chat.joined")
            .await
    }

    /// O2 + V1: who may receive a chat of `department_id` now: available, allowed to
    /// take it, and with a console open on some node (a transfer to a closed console
    /// would sit unseen).
    pub async fn transfer_candidates(
        &self,
        portal_id: &str,
        department_id: Option<&str>,
    ) -> Result<Vec<Candidate>> {
        let connected = self.connected_operators(portal_id);
        let mut candidates = available_candidates(&self.db, portal_id, department_id).await?;
        candidates.retain(|c| connected.contains(&c.user_id));
        Ok(candidates)
    }

    /// O2: hands an attended chat to another online operator, or to an online operator
    /// of a department (the least busy), with a note for the receiver. The owner, or a
    /// supervisor or admin, may transfer; the old owner no longer writes afterwards.
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn transfer_chat(
        &self,
        op: &OperatorCtx,
        chat_id: &str,
        req: TransferRequest,
    ) -> Result<ChatView> {
        let chat = self.chat_for_operator(op, chat_id).await?;
        if chat.state != ChatState::Attended {
            return Err(not_attended());
        }
        let owner = chat.operator_id.clone().unwrap_or_default();
        if owner != op.user_id && !op.role.sees_all_departments() {
            return Err(Error::new(ErrorCode::NotChatOwner));
        }
        let note = trimmed(&req.note);
        if note
            .as_deref()
            .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
        {
            return Err(Error::invalid("note", "chat-error-note-long")
                .with_arg("max", MAX_NOTE_CHARS.to_string()));
        }
        let operator_id = trimmed(&req.operator_id);
        let department_id = trimmed(&req.department_id);
        if operator_id.is_none() && department_id.is_none() {
            return Err(Error::invalid("operatorId", "chat-error-transfer-target"));
        }
        if let Some(d) = &department_id {
            if self.department(&op.portal.id, d).await?.is_none() {
                return Err(Error::invalid(
                    "departmentId",
                    "chat-error-department-unknown",
                ));
            }
        }
        let target_department = department_id.clone().or(chat.department_id.clone());
        let online = self
            .transfer_candidates(&op.portal.id, target_department.as_deref())
            .await?;
        let cap = self.max_chats_of(&op.portal.id).await?;
        let receiver = match &operator_id {
            Some(id) => {
                if *id == owner {
                    return Err(Error::invalid("operatorId", "chat-error-transfer-self"));
                }
                let Some((role, _, _)) =
                    crate::operators::store::role_and_name(&self.db, &op.portal.id, id).await?
                else {
                    return Err(Error::invalid("operatorId", "chat-error-operator-unknown"));
                };
                let Some(found) = online.iter().find(|c| c.user_id == *id) else {
                    let departments =
                        crate::operators::store::department_ids(&self.db, &op.portal.id, id)
                            .await?;
                    let takes = role != Role::Operator
                        || target_department
                            .as_deref()
                            .is_some_and(|d| departments.iter().any(|x| x == d));
                    return Err(if takes {
                        Error::new(ErrorCode::Conflict)
                            .with_field("operatorId")
                            .with_message("chat-error-operator-offline")
                    } else {
                        Error::invalid("operatorId", "chat-error-operator-department")
                    });
                };
                if cap.is_some_and(|cap| found.open_chats >= cap) {
                    return Err(Error::new(ErrorCode::Conflict)
                        .with_field("operatorId")
                        .with_message("chat-error-operator-at-capacity"));
                }
                found.clone()
            }
            None => online
                .iter()
                .filter(|c| c.user_id != owner)
                .filter(|c| cap.is_none_or(|cap| c.open_chats < cap))
                .min_by_key(|c| c.open_chats)
                .cloned()
                .ok_or_else(|| {
                    Error::new(ErrorCode::Conflict)
                        .with_field("departmentId")
                        .with_message("chat-error-no-operator-online")
                })?,
        };
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let row = sqlx::query(
            "update chat_chats set operator_id = $1, department_id = $2, last_seq = last_seq + 1, \
             updated_at = $3, last_activity_at = $3 \
             where id = $4 and state = 'attended' and coalesce(operator_id, '') = $5 \
             returning last_seq",
        )
        .bind(&receiver.user_id)
        .bind(&target_department)
        .bind(now)
        .bind(&chat.id)
        .bind(&owner)
        .fetch_optional(tx.conn())
        .await?;
        let Some(row) = row else {
            // Ended or handed over meanwhile.
            return Err(Error::new(ErrorCode::Conflict));
        };
        let seq: i64 = row.try_get("last_seq")?;
        sqlx::query(
            "insert into chat_transfers (id, chat_id, from_user_id, to_user_id, to_department_id, \
             note, created_at) values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(madoguchi_core::ids::new_id())
        .bind(&chat.id)
        .bind((!owner.is_empty()).then_some(owner.as_str()))
        .bind(&receiver.user_id)
        .bind(&department_id)
        .bind(&note)
        .bind(now)
        .execute(tx.conn())
        .await?;
        let line = crate::chats::system_message(
            &chat.id,
            seq,
            SystemKind::Transferred,
            Some(receiver.name.clone()),
            now,
        );
        messages::store::insert(&mut tx, &line, None).await?;
        let event = events::record(
            &mut tx,
            &op.portal.id,
            &chat.id,
            "transferred",
            Some(&op.user_id),
            now,
        )
        .await?;
        tx.commit().await?;
        self.after_toolkit_change(&chat, &line, event, "chat.transferred")
            .await
    }

    /// O3: the portal's cap of concurrent chats per operator (`None`: no cap).
    pub async fn max_chats_of(&self, portal_id: &str) -> Result<Option<i64>> {
        Ok(self
            .portal_by_id(portal_id)
            .await?
            .and_then(|p| p.max_chats_per_operator))
    }

    /// O3 on accept: a chat offered to someone else is theirs (supervisors and admins
    /// may still take it), and an operator at the cap takes no more.
    pub(crate) async fn check_accept(&self, op: &OperatorCtx, chat: &ChatView) -> Result<()> {
        if let Some(offered) = &chat.offered_to {
            if *offered != op.user_id && !op.role.sees_all_departments() {
                return Err(
                    Error::new(ErrorCode::Conflict).with_message("chat-error-offered-to-other")
                );
            }
        }
        if let Some(cap) = op.portal.max_chats_per_operator {
            let held: i64 = sqlx::query(
                "select count(*) as n from chat_chats where portal_id = $1 and state = 'attended' \
                 and operator_id = $2",
            )
            .bind(&op.portal.id)
            .bind(&op.user_id)
            .fetch_one(self.db.pool())
            .await?
            .try_get("n")?;
            if held >= cap {
                return Err(Error::new(ErrorCode::Conflict).with_message("chat-error-at-capacity"));
            }
        }
        Ok(())
    }

    /// O3 timer (every tick, any node): in portals that offer chats one at a time,
    /// offers to operators who went away are withdrawn, and waiting chats without an
    /// offer go to the next operator under the cap. Answers how many were offered.
    pub async fn route_waiting(&self) -> Result<usize> {
        let portals = sqlx::query(
            "select id, routing, max_chats_per_operator from chat_portals where routing <> 'broadcast'",
        )
        .fetch_all(self.db.pool())
        .await?;
        let mut offered = 0;
        for p in &portals {
            let portal_id: String = p.try_get("id")?;
            let routing = Routing::parse(&p.try_get::<String, _>("routing")?).unwrap_or_default();
            let cap: Option<i64> = p.try_get("max_chats_per_operator")?;
            let withdrawn = sqlx::query(
                "update chat_chats set offered_to = null where portal_id = $1 and state = 'waiting' \
                 and offered_to is not null and not exists (select 1 from chat_operators o \
                 where o.portal_id = $1 and o.user_id = chat_chats.offered_to and o.status = 'available') \
                 returning id",
            )
            .bind(&portal_id)
            .fetch_all(self.db.pool())
            .await?;
            let waiting = sqlx::query(
                "select id, department_id from chat_chats where portal_id = $1 and state = 'waiting' \
                 and offered_to is null order by created_at, id limit 100",
            )
            .bind(&portal_id)
            .fetch_all(self.db.pool())
            .await?;
            let mut changed: Vec<(String, Option<ChatEvent>)> = Vec::new();
            for r in &withdrawn {
                changed.push((r.try_get("id")?, None));
            }
            // A department nobody could take a chat of stays so for the rest of the pass.
            let mut nobody: Vec<Option<String>> = Vec::new();
            for r in &waiting {
                let chat_id: String = r.try_get("id")?;
                let department_id: Option<String> = r.try_get("department_id")?;
                if nobody.contains(&department_id) {
                    continue;
                }
                let now = self.clock.now_ms();
                let mut tx = self.db.begin_write().await?;
                let Some(_to) = offer_in(
                    &mut tx,
                    &portal_id,
                    routing,
                    cap,
                    &chat_id,
                    department_id.as_deref(),
                )
                .await?
                else {
                    // Everyone is at the cap (or away): the chat waits, or is missed at the
                    // wait limit.
                    nobody.push(department_id);
                    continue;
                };
                let event =
                    events::record(&mut tx, &portal_id, &chat_id, "offered", None, now).await?;
                tx.commit().await?;
                offered += 1;
                changed.retain(|(id, _)| *id != chat_id);
                changed.push((chat_id, Some(event)));
            }
            for (chat_id, event) in changed {
                if let Some(chat) = self.chat_by_id(&chat_id).await? {
                    let event_id = event.as_ref().map_or(0, |e| e.id);
                    self.publish_chat_state(&chat, event_id).await;
                    if let Some(e) = &event {
                        self.desk_hook().on_chat_event(e);
                    }
                }
            }
        }
        Ok(offered)
    }

    /// After commit: the system line, then the chat as it is now under `event`, to the
    /// consoles of the chat's department before and after the change (so the old
    /// owner's console sees it too; a console that sees both gets each once, by seq and
    /// event id), then the integration's wake-up.
    async fn after_toolkit_change(
        &self,
        before: &ChatView,
        line: &Message,
        event: ChatEvent,
        kind: &str,
    ) -> Result<ChatView> {
        let chat = self
            .chat_by_id(&before.id)
            .await?
            .ok_or_else(Error::not_found)?;
        self.publish_message(&chat.portal_id, chat.department_id.as_deref(), line)
            .await;
        let moved = before.department_id != chat.department_id;
        if moved {
            self.publish_ops(
                &chat.portal_id,
                LiveEvent::Message {
                    chat_id: chat.id.clone(),
                    department_id: before.department_id.clone(),
                    message: line.clone(),
                },
            )
            .await;
        }
        let value = serde_json::to_value(&chat).unwrap_or_default();
        let mut departments = vec![chat.department_id.clone()];
        if moved {
            departments.push(before.department_id.clone());
        }
        for department_id in departments {
            self.publish_ops(
                &chat.portal_id,
                LiveEvent::Chat {
                    event: kind.to_owned(),
                    chat_id: chat.id.clone(),
                    department_id,
                    last_seq: chat.last_seq,
                    event_id: event.id,
                    chat: value.clone(),
                },
            )
            .await;
        }
        self.desk_hook().on_chat_event(&event);
        Ok(chat)
    }

    /// O2: the hand-overs of a chat, oldest first (its history).
    pub async fn transfers(&self, chat_id: &str) -> Result<Vec<TransferView>> {
        let mut all = Vec::new();
        let rows = sqlx::query(
            "select t.from_user_id, fu.name as from_name, t.to_user_id, tu.name as to_name, \
             t.to_department_id, t.note, t.created_at from chat_transfers t \
             left join users fu on fu.id = t.from_user_id left join users tu on tu.id = t.to_user_id \
             where t.chat_id = $1 order by t.created_at, t.id",
        )
        .bind(chat_id)
        .fetch_all(self.db.pool())
        .await?;
        for r in &rows {
            all.push(TransferView {
                from_operator_id: r.try_get("from_user_id")?,
                from_operator_name: r.try_get("from_name")?,
                to_operator_id: r.try_get("to_user_id")?,
                to_operator_name: r.try_get("to_name")?,
                to_department_id: r.try_get("to_department_id")?,
                note: r.try_get("note")?,
                created_at: r.try_get("created_at")?,
            });
        }
        Ok(all)
    }
}
