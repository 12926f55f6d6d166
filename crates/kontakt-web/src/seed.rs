//! Seed data: the default category tree, sample executors with their responsibility map, and
//! generated appeals registered through the same path as the API (`registration::register`),
//! for `kontakt seed`, the demo and the benchmarks.

use chrono::Duration;
use kontakt_appeals::{self as domain, ActorKind, AnswerChannel, Channel, LegalKind};
use kontakt_store::{Actor, NewExecutor, NewResponsibility, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::dto::{
    AddressDto, EmergencyDto, NewAppealRequest, NewApplicantRequest, NewQuestionRequest,
};
use crate::error::{ApiError, ApiResult};
use crate::registration::{now, register};

/// Loads the default category tree into an empty database; returns how many were loaded.
pub async fn reference(store: &dyn Store) -> ApiResult<usize> {
    if !store.categories().await?.is_empty() {
        return Ok(0);
    }
    let mut categories = domain::default_categories();
    // Parents before children: the parent_code foreign key must find its row.
    categories.sort_by_key(|c| (c.code.matches('.').count(), c.code.clone()));
    let n = categories.len();
    for c in categories {
        store.upsert_category(c).await?;
    }
    Ok(n)
}

/// Creates the sample executors and their responsibility lines, once.
pub async fn executors(store: &dyn Store) -> ApiResult<usize> {
    if !store.executors().await?.is_empty() {
        return Ok(0);
    }
    let at = now() - Duration::days(365);
    let seeds = domain::sample_executors();
    for s in &seeds {
        let e = store
            .create_executor(
                NewExecutor {
                    code: s.code.clone(),
                    name_uk: s.name_uk.clone(),
                    name_en: s.name_en.clone(),
                    phone: s.phone.clone(),
                },
                at,
            )
            .await?;
        let districts: Vec<Option<String>> = if s.districts.is_empty() {
            vec![None]
        } else {
            s.districts.iter().cloned().map(Some).collect()
        };
        for prefix in &s.categories {
            for district in &districts {
                store
                    .add_responsibility(
                        NewResponsibility {
                            category_prefix: prefix.clone(),
                            district: district.clone(),
                            building_key: None,
                            executor_id: e.id,
                            valid_from: at,
                            valid_to: None,
                        },
                        at,
                    )
                    .await?;
            }
        }
    }
    Ok(seeds.len())
}

const STREETS: &[&str] = &[
    "просп. Соборний",
    "вул. Незалежної України",
    "вул. Перемоги",
    "бульв. Шевченка",
    "вул. Запорізька",
    "вул. Гоголя",
    "просп. Металургів",
    "вул. Космічна",
    "вул. Чарівна",
    "вул. Комарова",
    "вул. Рекордна",
    "вул. Зестафонська",
    "вул. Лермонтова",
    "вул. Дніпровська",
];
const LAST: &[&str] = &[
    "Шевченко",
    "Коваленко",
    "Бондаренко",
    "Ткаченко",
    "Кравченко",
    "Олійник",
    "Мельник",
    "Лисенко",
    "Поліщук",
    "Савченко",
    "Руденко",
    "Мороз",
];
const FIRST: &[&str] =
    &["Олена", "Іван", "Марія", "Петро", "Наталія", "Андрій", "Оксана", "Сергій", "Тетяна", "Юрій"];
const PATRONYMIC: &[&str] =
    &["Іванівна", "Петрович", "Олександрівна", "Миколайович", "Василівна", "Сергійович"];
const CODES: &[&str] = &["50", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99"];

fn pick<'a>(rng: &mut StdRng, items: &'a [&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// Registers `count` plausible appeals (seeded, so two runs produce the same data).
pub async fn generate_appeals(store: &dyn Store, count: usize, seed: u64) -> ApiResult<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    let leaves: Vec<domain::Category> =
        store.categories().await?.into_iter().filter(|c| c.is_leaf && c.active).collect();
    if leaves.is_empty() {
        return Err(ApiError::bad_request("no leaf categories to file appeals under"));
    }
    let districts = domain::default_districts();
    let actor = Actor { user_id: None, kind: ActorKind::System };
    let mut done = 0;
    for _ in 0..count {
        let category = &leaves[rng.random_range(0..leaves.len())];
        let address = AddressDto {
            city: Some("Запоріжжя".into()),
            street: pick(&mut rng, STREETS).into(),
            building: rng.random_range(1..120).to_string(),
            entrance: Some(rng.random_range(1..8).to_string()),
            flat: Some(rng.random_range(1..200).to_string()),
            floor: Some(rng.random_range(1..16)),
            district: Some(districts[rng.random_range(0..districts.len())].to_string()),
            lat: None,
            lon: None,
        };
        let phone = format!("0{}{:07}", pick(&mut rng, CODES), rng.random_range(0..10_000_000));
        let emergency = category.is_emergency.then(|| EmergencyDto {
            discovered_at: now() - Duration::minutes(rng.random_range(5..240)),
            nature: "повідомлення мешканця".into(),
        });
        let req = NewAppealRequest {
            applicant_id: None,
            applicant: Some(NewApplicantRequest {
                last_name: Some(pick(&mut rng, LAST).into()),
                first_name: Some(pick(&mut rng, FIRST).into()),
                patronymic: Some(pick(&mut rng, PATRONYMIC).into()),
                phones: vec![phone],
                email: None,
                address: Some(address.clone()),
                kind: domain::ApplicantKind::Individual,
                privileges: Vec::new(),
                confidential: rng.random_bool(0.05),
                assurance: domain::AssuranceLevel::None,
            }),
            channel: if rng.random_bool(0.8) { Channel::Phone } else { Channel::Web },
            legal_kind: if category.is_emergency {
                LegalKind::Application
            } else {
                LegalKind::Complaint
            },
            received_at: None,
            answer_channel: Some(AnswerChannel::Phone),
            collective: false,
            call_id: None,
            questions: vec![NewQuestionRequest {
                category_code: category.code.clone(),
                description: format!("{} — {}", category.name_uk, address.street),
                attributes: domain::example_attributes(
                    &category.attribute_schema,
                    now().date_naive(),
                ),
                address: Some(address),
                object_ref: None,
                emergency,
            }],
        };
        register(store, actor, req).await?;
        done += 1;
    }
    Ok(done)
}
