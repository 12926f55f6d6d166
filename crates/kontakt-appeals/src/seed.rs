//! Seed data: a realistic municipal category tree with SLA defaults, city districts and sample
//! executor organisations, shaped on Zaporizhzhia's 15-80 hotline.
//!
//! SLA hours are the defaults from appeals.md §6.1 and are meant to be configured: where the
//! source gives minutes (a person stuck in a lift: release within 30 minutes) the SLA is rounded
//! up to the hour, since [`Category::sla_hours`] counts hours. Categories that are not
//! operational (proposals, complaints, illegal structures) have no SLA and run on the Art. 20
//! clock alone.
//!
//! The executors are **sample** organisations for demos and tests, not an official registry;
//! their names follow the usual municipal pattern and phone numbers are left empty.

use crate::category::{
    AttributeDef, AttributeKind, Category, DEFAULT_ATTENTION_PCT, LegalTrack, Severity, code_under,
};

/// A sample executor organisation and what it covers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecutorSeed {
    /// Stable code, e.g. `vodokanal`.
    pub code: String,
    /// Ukrainian name.
    pub name_uk: String,
    /// English name.
    pub name_en: Option<String>,
    /// Dispatcher phone (E.164); empty in the samples.
    pub phone: Option<String>,
    /// Category-code prefixes it handles (`water` covers `water.*`).
    pub categories: Vec<String>,
    /// Districts it serves; empty = the whole city.
    pub districts: Vec<String>,
}

impl ExecutorSeed {
    /// True if this executor handles `category_code` in `district` (`None` = unknown district,
    /// which only city-wide executors match).
    pub fn covers(&self, category_code: &str, district: Option<&str>) -> bool {
        let district_ok = self.districts.is_empty()
            || district.is_some_and(|d| self.districts.iter().any(|x| x == d));
        district_ok && self.categories.iter().any(|p| code_under(category_code, p))
    }

    /// Length of the longest of its prefixes that covers `category_code` (more specific wins).
    fn specificity(&self, category_code: &str) -> usize {
        self.categories
            .iter()
            .filter(|p| code_under(category_code, p))
            .map(String::len)
            .max()
            .unwrap_or(0)
    }
}

/// Picks the executor for a question from a list like [`sample_executors`] with the same
/// priority as [`crate::routing::route`]: among those that cover the category in the district, a
/// district-specific executor beats a city-wide one, then the longest matching category prefix
/// wins, then list order. Used by demo seeding and tests; production routing goes through the
/// responsibility map.
pub fn pick_executor<'a>(
    executors: &'a [ExecutorSeed],
    category_code: &str,
    district: Option<&str>,
) -> Option<&'a ExecutorSeed> {
    executors
        .iter()
        .enumerate()
        .filter(|(_, e)| e.covers(category_code, district))
        .max_by_key(|(i, e)| {
            (!e.districts.is_empty(), e.specificity(category_code), std::cmp::Reverse(*i))
        })
        .map(|(_, e)| e)
}

/// The seven districts of Zaporizhzhia under their current names. Komunarskyi was renamed
/// Kosmichnyi by the city council in November 2025 (decommunisation); Leninskyi, Zhovtnevyi and
/// Ordzhonikidzevskyi became Dniprovskyi, Oleksandrivskyi and Voznesenivskyi in 2016.
/// Shevchenkivskyi is a district of its own, not a new name of another.
pub fn default_districts() -> Vec<&'static str> {
    vec![
        "Вознесенівський",
        "Дніпровський",
        "Заводський",
        "Космічний",
        "Олександрівський",
        "Хортицький",
        "Шевченківський",
    ]
}

/// Former district names still found in old addresses and registries, with the current name.
pub const DISTRICT_RENAMES: &[(&str, &str)] = &[
    ("Комунарський", "Космічний"),
    ("Ленінський", "Дніпровський"),
    ("Жовтневий", "Олександрівський"),
    ("Орджонікідзевський", "Вознесенівський"),
];

/// The current name of a district written in any case, with or without the word "район", under
/// its current or a former name; `None` if it is not a district of the city.
pub fn normalize_district(name: &str) -> Option<&'static str> {
    let cleaned: String = name
        .split_whitespace()
        .filter(|w| !matches!(w.to_lowercase().trim_end_matches('.'), "район" | "р-н" | "р"))
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    default_districts().into_iter().find(|d| d.to_lowercase() == cleaned).or_else(|| {
        DISTRICT_RENAMES.iter().find(|(old, _)| old.to_lowercase() == cleaned).map(|(_, new)| *new)
    })
}

fn parent_of(code: &str) -> Option<String> {
    code.rsplit_once('.').map(|(p, _)| p.to_owned())
}

fn group(code: &str, uk: &str, en: &str) -> Category {
    Category {
        code: code.into(),
        parent_code: parent_of(code),
        name_uk: uk.into(),
        name_en: Some(en.into()),
        is_emergency: false,
        severity: Severity::P2,
        sla_hours: None,
        attention_pct: DEFAULT_ATTENTION_PCT,
        legal_track: LegalTrack::ServiceRequest,
        attribute_schema: Vec::new(),
        is_leaf: false,
        active: true,
    }
}

/// An operational leaf with an SLA in hours.
fn service(code: &str, uk: &str, en: &str, severity: Severity, sla_hours: u32) -> Category {
    Category { is_leaf: true, severity, sla_hours: Some(sla_hours), ..group(code, uk, en) }
}

/// An emergency leaf: `discovered_at` and nature are required on its questions.
fn emergency(code: &str, uk: &str, en: &str, sla_hours: u32) -> Category {
    Category { is_emergency: true, ..service(code, uk, en, Severity::P0, sla_hours) }
}

/// A leaf on the Art. 20 clock only.
fn legal(code: &str, uk: &str, en: &str, track: LegalTrack) -> Category {
    Category { is_leaf: true, severity: Severity::P3, legal_track: track, ..group(code, uk, en) }
}

/// A consultation: answered during the call and closed as `explained`; the one-day SLA catches
/// those that needed a call back.
fn consult(code: &str, uk: &str, en: &str) -> Category {
    Category { sla_hours: Some(24), ..legal(code, uk, en, LegalTrack::Art20Short) }
}

fn attr(code: &str, uk: &str, kind: AttributeKind, required: bool) -> AttributeDef {
    AttributeDef { code: code.into(), name_uk: uk.into(), kind, required }
}

fn values(v: &[&str]) -> AttributeKind {
    AttributeKind::SingleValue(v.iter().map(|s| (*s).to_owned()).collect())
}

fn with(mut c: Category, attrs: Vec<AttributeDef>) -> Category {
    c.attribute_schema = attrs;
    c
}

/// The seed category tree: 17 groups, leaves with SLA defaults from appeals.md §6.1.
pub fn default_categories() -> Vec<Category> {
    use LegalTrack::{Art20General, Art20Short};
    use Severity::{P1, P2};

    // How far a utility outage reaches: decides whether it is one flat's problem (housing
    // company) or a network accident (utility), and groups duplicates.
    let scope = || attr("scope", "Масштаб", values(&["flat", "riser", "building", "street"]), true);
    let since = || attr("since", "З якого часу", AttributeKind::Date, false);

    vec![
        // Water supply (the third of Zaporizhzhia's top categories).
        group("water", "Водопостачання", "Water supply"),
        emergency(
            "water.burst",
            "Порив водопроводу, підтоплення",
            "Water main or riser burst, flooding",
            24,
        ),
        with(
            service(
                "water.no_cold_water",
                "Відсутнє холодне водопостачання",
                "No cold water",
                P1,
                24,
            ),
            vec![scope(), since()],
        ),
        with(
            service(
                "water.low_pressure",
                "Низький тиск холодної води",
                "Low cold-water pressure",
                P2,
                72,
            ),
            vec![scope()],
        ),
        service("water.quality", "Неякісна питна вода", "Poor drinking-water quality", P2, 72),
        service("water.leak", "Витік води на мережі", "Water leak on the network", P2, 72),
        legal(
            "water.meter",
            "Лічильники води, нарахування",
            "Water meters and billing",
            Art20General,
        ),
        // Sewerage.
        group("sewage", "Водовідведення", "Sewerage"),
        emergency(
            "sewage.overflow",
            "Переповнення каналізації, затоплення підвалу",
            "Sewer overflow, basement flooding",
            2,
        ),
        service(
            "sewage.blockage",
            "Засмічення каналізації в будинку",
            "Sewer blockage in a building",
            P1,
            2,
        ),
        service(
            "sewage.street_network",
            "Несправність зовнішньої каналізаційної мережі",
            "Street sewer fault",
            P1,
            24,
        ),
        service("sewage.odor", "Неприємний запах каналізації", "Sewer smell", P2, 72),
        // Heating.
        group("heating", "Теплопостачання", "Heating"),
        with(
            service("heating.no_heating", "Відсутнє опалення", "No heating", P1, 24),
            vec![scope(), since()],
        ),
        with(
            service(
                "heating.low_temperature",
                "Низька температура в приміщенні",
                "Room temperature too low",
                P2,
                72,
            ),
            vec![attr(
                "room_temperature",
                "Температура в приміщенні, °C",
                AttributeKind::Number,
                false,
            )],
        ),
        emergency("heating.leak", "Порив системи опалення", "Heating system burst", 24),
        legal("heating.billing", "Нарахування за опалення", "Heating bills", Art20General),
        // Hot water.
        group("hot_water", "Гаряче водопостачання", "Hot water"),
        with(
            service(
                "hot_water.no_hot_water",
                "Відсутнє гаряче водопостачання",
                "No hot water",
                P1,
                24,
            ),
            vec![scope(), since()],
        ),
        service(
            "hot_water.low_temperature",
            "Низька температура гарячої води",
            "Hot water not hot enough",
            P2,
            72,
        ),
        // Electricity (23 % of Zaporizhzhia's volume).
        group("electricity", "Електропостачання", "Electricity"),
        // НКРЕКП resolution 375: restore after an accident within 22 hours.
        with(
            service("electricity.no_power", "Відсутня електроенергія", "No power", P1, 22),
            vec![scope()],
        ),
        emergency("electricity.wire_down", "Обрив проводів, іскріння", "Wire down or sparking", 1),
        service(
            "electricity.in_house",
            "Несправність внутрішньобудинкових електромереж",
            "In-house wiring fault",
            P1,
            3,
        ),
        service(
            "electricity.stair_lighting",
            "Не працює освітлення під'їзду",
            "Stairwell lights out",
            P2,
            168,
        ),
        // Gas.
        group("gas", "Газопостачання", "Gas"),
        // Immediate hand-off to 104; the hour is the platform's own follow-up.
        emergency("gas.smell", "Запах газу", "Smell of gas", 1),
        emergency(
            "gas.appliance_fault",
            "Несправність газового обладнання",
            "Gas appliance fault",
            1,
        ),
        service("gas.no_gas", "Відсутнє газопостачання", "No gas supply", P1, 24),
        legal("gas.meter", "Лічильники газу, нарахування", "Gas meters and billing", Art20General),
        // Lifts.
        group("lift", "Ліфти", "Lifts"),
        // Release within 30 minutes (analogue norm), rounded up to the hour.
        emergency("lift.people_stuck", "Люди застрягли в ліфті", "People stuck in a lift", 1),
        with(
            service("lift.stopped", "Ліфт не працює", "Lift out of service", P1, 24),
            vec![
                attr("people_inside", "Чи є люди в кабіні", AttributeKind::Bool, true),
                attr("lift_number", "Номер ліфта / під'їзд", AttributeKind::String, false),
            ],
        ),
        service(
            "lift.defect",
            "Несправність ліфта (двері, кнопки, освітлення кабіни)",
            "Lift defect",
            P2,
            72,
        ),
        // Roofs and buildings.
        group("building", "Покрівля та будинок", "Roofs and buildings"),
        with(
            service("building.roof_leak", "Протікання покрівлі", "Roof leak", P1, 24),
            vec![attr(
                "top_floor_flat",
                "Квартира на останньому поверсі",
                AttributeKind::Bool,
                false,
            )],
        ),
        service(
            "building.window_door",
            "Розбите вікно в місцях загального користування",
            "Broken common-area window",
            P2,
            72,
        ),
        service(
            "building.entrance_door",
            "Несправні вхідні двері під'їзду",
            "Entrance door broken",
            P2,
            24,
        ),
        service("building.gutters", "Водостічні труби, жолоби", "Gutters and downpipes", P2, 120),
        emergency(
            "building.facade_falling",
            "Падіння штукатурки, елементів фасаду",
            "Falling plaster or facade elements",
            120,
        ),
        service(
            "building.basement",
            "Підтоплення чи захаращення підвалу",
            "Flooded or littered basement",
            P2,
            72,
        ),
        service("building.stairwell_cleaning", "Прибирання під'їзду", "Stairwell cleaning", P2, 72),
        // Yard and improvement.
        group("yard", "Прибудинкова територія та благоустрій", "Yard and improvement"),
        service("yard.cleaning", "Прибирання прибудинкової території", "Yard cleaning", P2, 72),
        service("yard.snow_ice", "Сніг, ожеледь", "Snow and ice", P2, 24),
        service("yard.playground", "Пошкоджений дитячий майданчик", "Damaged playground", P2, 360),
        with(
            service("yard.fallen_tree", "Повалене дерево, гілля", "Fallen tree or branch", P1, 24),
            vec![
                attr("blocking", "Перекриває прохід чи проїзд", AttributeKind::Bool, true),
                attr("on_wires", "Лежить на проводах", AttributeKind::Bool, true),
            ],
        ),
        legal(
            "yard.tree_pruning",
            "Обрізка, видалення дерев",
            "Tree pruning or removal",
            Art20General,
        ),
        legal(
            "yard.improvement_proposal",
            "Пропозиція щодо благоустрою двору",
            "Courtyard improvement proposal",
            Art20General,
        ),
        // Roads and lighting.
        group("roads", "Дороги та освітлення", "Roads and lighting"),
        service("roads.pothole", "Вибоїна на дорозі", "Pothole", P2, 360),
        service("roads.street_light", "Не працює вуличне освітлення", "Street light out", P2, 168),
        emergency("roads.open_manhole", "Відкритий люк", "Open manhole", 1),
        service("roads.traffic_light", "Не працює світлофор", "Traffic light out", P1, 4),
        service("roads.snow", "Прибирання снігу на дорогах", "Road snow clearing", P2, 24),
        // Waste.
        group("waste", "Вивезення побутових відходів", "Waste collection"),
        service(
            "waste.missed_collection",
            "Не вивезено сміття за графіком",
            "Missed collection",
            P2,
            24,
        ),
        service(
            "waste.overflowing_site",
            "Переповнений контейнерний майданчик",
            "Overflowing container site",
            P2,
            72,
        ),
        service("waste.bulky", "Вивезення великогабаритних відходів", "Bulky waste", P2, 72),
        service("waste.illegal_dump", "Стихійне сміттєзвалище", "Illegal dump", P2, 168),
        // Transport.
        group("transport", "Міський транспорт", "Public transport"),
        with(
            legal(
                "transport.route_violation",
                "Порушення графіку руху, відмова у проїзді",
                "Schedule violation, refused boarding",
                Art20Short,
            ),
            vec![
                attr("route", "Номер маршруту", AttributeKind::String, true),
                attr("vehicle", "Бортовий номер", AttributeKind::String, false),
            ],
        ),
        legal(
            "transport.driver_conduct",
            "Поведінка водія чи кондуктора",
            "Driver or conductor conduct",
            Art20General,
        ),
        legal(
            "transport.stop_condition",
            "Стан зупинки громадського транспорту",
            "Stop shelter condition",
            Art20General,
        ),
        legal(
            "transport.route_proposal",
            "Пропозиції щодо маршрутів",
            "Route proposals",
            Art20General,
        ),
        // Illegal structures.
        group("illegal", "Незаконні об'єкти", "Illegal structures"),
        legal(
            "illegal.kiosk",
            "Незаконний кіоск, МАФ",
            "Illegal kiosk or small structure",
            Art20General,
        ),
        legal("illegal.advertising", "Незаконна реклама", "Illegal advertising", Art20General),
        legal(
            "illegal.construction",
            "Самочинне будівництво",
            "Unauthorised construction",
            Art20General,
        ),
        // Civil protection (a top Zaporizhzhia category in wartime).
        group(
            "civil",
            "Надзвичайні ситуації та цивільний захист",
            "Emergencies and civil protection",
        ),
        with(
            emergency(
                "civil.shelling_damage",
                "Пошкодження внаслідок обстрілу (вікна, покрівля)",
                "Shelling damage (windows, roof)",
                24,
            ),
            vec![
                attr("windows_broken", "Кількість вибитих вікон", AttributeKind::Number, false),
                attr("people_injured", "Є постраждалі", AttributeKind::Bool, true),
            ],
        ),
        service(
            "civil.shelter",
            "Укриття зачинене або непридатне",
            "Shelter closed or unusable",
            P1,
            24,
        ),
        service("civil.debris", "Уламки, завали після обстрілу", "Debris after shelling", P1, 24),
        legal("civil.siren", "Не чутно сирену", "Air-raid siren not audible", Art20Short),
        // Consultations: answered during the call and closed as `explained`.
        group("consult", "Консультації", "Consultations"),
        consult("consult.tariffs", "Тарифи на комунальні послуги", "Utility tariffs"),
        consult(
            "consult.outages",
            "Графіки відключень, аварійні роботи",
            "Outage schedules and repairs",
        ),
        consult(
            "consult.contacts",
            "Контакти служб і установ",
            "Contacts of services and institutions",
        ),
        // Complaints about executors (feed the rating).
        group("complaint", "Скарги на виконавців", "Complaints about executors"),
        legal(
            "complaint.utility",
            "Скарга на комунальне підприємство",
            "Complaint about a utility company",
            Art20General,
        ),
        legal(
            "complaint.housing",
            "Скарга на управителя будинку",
            "Complaint about a building manager",
            Art20General,
        ),
        legal(
            "complaint.institution",
            "Скарга на установу чи посадову особу",
            "Complaint about an institution or official",
            Art20General,
        ),
        // Everything else.
        group("other", "Інше", "Other"),
        legal("other.gratitude", "Подяка", "Thanks", Art20Short),
        legal("other.other", "Інші питання", "Other questions", Art20General),
    ]
}

fn exec(code: &str, uk: &str, en: &str, categories: &[&str], districts: &[&str]) -> ExecutorSeed {
    ExecutorSeed {
        code: code.into(),
        name_uk: uk.into(),
        name_en: Some(en.into()),
        phone: None,
        categories: categories.iter().map(|s| (*s).to_owned()).collect(),
        districts: districts.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Sample executors: city-wide utilities plus one housing company per district for in-building
/// problems. Prefixes overlap on purpose (the water utility covers `sewage`, the district housing
/// company covers `sewage.blockage` inside its buildings): [`pick_executor`] picks the most
/// specific.
pub fn sample_executors() -> Vec<ExecutorSeed> {
    let mut v = vec![
        exec(
            "vodokanal",
            "КП «Водоканал»",
            "Vodokanal (water and sewerage utility)",
            &["water", "sewage"],
            &[],
        ),
        exec(
            "teplomerezha",
            "КП «Тепломережа»",
            "Teplomerezha (district heating utility)",
            &["heating", "hot_water"],
            &[],
        ),
        exec(
            "oblenergo",
            "АТ «Запоріжжяобленерго»",
            "Zaporizhzhiaoblenergo (electricity distribution)",
            &["electricity.no_power", "electricity.wire_down"],
            &[],
        ),
        exec(
            "gas_network",
            "Запорізька філія ТОВ «Газмережі»",
            "Gas distribution network, Zaporizhzhia branch",
            &["gas"],
            &[],
        ),
        exec("lift_service", "КП «Ліфтсервіс»", "Liftservice (lift maintenance)", &["lift"], &[]),
        exec(
            "waste_carrier",
            "ТОВ «Спецкомунтранс»",
            "Spetskomuntrans (waste carrier)",
            &["waste"],
            &[],
        ),
        exec("roads", "КП «Шляхрембуд»", "Road maintenance company", &["roads"], &[]),
        exec(
            "street_lighting",
            "КП «Міськсвітло»",
            "Street lighting company",
            &["roads.street_light", "roads.traffic_light"],
            &[],
        ),
        exec(
            "greenery",
            "КП «Зеленбуд»",
            "Parks and trees company",
            &["yard.fallen_tree", "yard.tree_pruning"],
            &[],
        ),
        exec(
            "electrotrans",
            "КП «Запоріжелектротранс»",
            "Municipal electric transport",
            &["transport"],
            &[],
        ),
        exec(
            "improvement_inspection",
            "Інспекція з благоустрою міської ради",
            "City improvement inspectorate",
            &["illegal", "waste.illegal_dump"],
            &[],
        ),
        exec(
            "civil_protection",
            "Управління з питань надзвичайних ситуацій та цивільного захисту",
            "Civil protection department",
            &["civil"],
            &[],
        ),
        exec(
            "contact_center",
            "КП «ЦУІТ» (контакт-центр 15-80)",
            "Contact centre 15-80",
            &["consult", "other"],
            &[],
        ),
        exec(
            "appeals_department",
            "Відділ роботи зі зверненнями громадян",
            "Citizens' appeals department",
            &["complaint", "yard.improvement_proposal", "transport.route_proposal"],
            &[],
        ),
    ];
    // In-building networks and the house itself belong to the building manager.
    // Listed leaf by leaf where a city-wide service shares the group (trees, proposals): a
    // district line beats a city-wide one, so "yard" here would take fallen trees from the
    // parks company.
    let housing_categories: &[&str] = &[
        "building",
        "yard.cleaning",
        "yard.snow_ice",
        "yard.playground",
        "electricity.in_house",
        "electricity.stair_lighting",
        "sewage.blockage",
        "heating.low_temperature",
    ];
    let housing: &[(&str, &str, &str)] = &[
        ("housing_voznesenivskyi", "Вознесенівський", "Voznesenivskyi"),
        ("housing_dniprovskyi", "Дніпровський", "Dniprovskyi"),
        ("housing_zavodskyi", "Заводський", "Zavodskyi"),
        ("housing_kosmichnyi", "Космічний", "Kosmichnyi"),
        ("housing_oleksandrivskyi", "Олександрівський", "Oleksandrivskyi"),
        ("housing_khortytskyi", "Хортицький", "Khortytskyi"),
        ("housing_shevchenkivskyi", "Шевченківський", "Shevchenkivskyi"),
    ];
    for (code, uk, en) in housing {
        v.push(exec(
            code,
            &format!("КП «Житлосервіс» ({uk} район)"),
            &format!("Housing maintenance company, {en} district"),
            housing_categories,
            &[uk],
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::validate_tree;

    #[test]
    fn tree_is_consistent() {
        let cats = default_categories();
        assert_eq!(validate_tree(&cats), Ok(()));
        let groups = cats.iter().filter(|c| c.parent_code.is_none()).count();
        assert_eq!(groups, 17);
        assert!(cats.iter().filter(|c| c.is_leaf).count() >= 60);
        for required in [
            "water",
            "sewage",
            "heating",
            "hot_water",
            "electricity",
            "gas",
            "lift",
            "building",
            "yard",
            "roads",
            "waste",
            "transport",
            "illegal",
            "civil",
            "consult",
            "complaint",
            "other",
        ] {
            assert!(cats.iter().any(|c| c.code == required && !c.is_leaf), "{required}");
        }
    }

    #[test]
    fn sla_defaults_follow_the_reference() {
        let cats = default_categories();
        let get = |code: &str| cats.iter().find(|c| c.code == code).cloned().unwrap();
        let cases: &[(&str, Severity, Option<u32>, bool, LegalTrack)] = &[
            ("gas.smell", Severity::P0, Some(1), true, LegalTrack::ServiceRequest),
            ("lift.people_stuck", Severity::P0, Some(1), true, LegalTrack::ServiceRequest),
            ("lift.stopped", Severity::P1, Some(24), false, LegalTrack::ServiceRequest),
            ("water.no_cold_water", Severity::P1, Some(24), false, LegalTrack::ServiceRequest),
            ("electricity.no_power", Severity::P1, Some(22), false, LegalTrack::ServiceRequest),
            (
                "electricity.stair_lighting",
                Severity::P2,
                Some(168),
                false,
                LegalTrack::ServiceRequest,
            ),
            ("building.gutters", Severity::P2, Some(120), false, LegalTrack::ServiceRequest),
            ("yard.playground", Severity::P2, Some(360), false, LegalTrack::ServiceRequest),
            ("sewage.blockage", Severity::P1, Some(2), false, LegalTrack::ServiceRequest),
            ("illegal.kiosk", Severity::P3, None, false, LegalTrack::Art20General),
            ("complaint.utility", Severity::P3, None, false, LegalTrack::Art20General),
            ("consult.tariffs", Severity::P3, Some(24), false, LegalTrack::Art20Short),
        ];
        for (code, sev, sla, emerg, track) in cases {
            let c = get(code);
            assert_eq!(
                (c.severity, c.sla_hours, c.is_emergency, c.legal_track),
                (*sev, *sla, *emerg, *track),
                "{code}"
            );
            assert_eq!(c.attention_pct, 75);
        }
        // Every emergency is P0 or at least P1 and has an SLA.
        for c in cats.iter().filter(|c| c.is_emergency) {
            assert!(
                c.sla_hours.is_some() && matches!(c.severity, Severity::P0 | Severity::P1),
                "{}",
                c.code
            );
        }
        // A leaf on the service track has an SLA; a leaf without one is on an Art. 20 track.
        for c in cats.iter().filter(|c| c.is_leaf) {
            assert!(
                c.sla_hours.is_some() || c.legal_track != LegalTrack::ServiceRequest,
                "{}",
                c.code
            );
        }
        assert!(
            matches!(&get("water.no_cold_water").attribute_schema[0].kind, AttributeKind::SingleValue(v) if v.len() == 4)
        );
        assert!(
            get("lift.stopped")
                .attribute_schema
                .iter()
                .any(|a| a.code == "people_inside" && a.required)
        );
    }

    #[test]
    fn every_leaf_has_an_executor_in_every_district() {
        let cats = default_categories();
        let execs = sample_executors();
        for c in cats.iter().filter(|c| c.is_leaf) {
            for d in default_districts() {
                assert!(pick_executor(&execs, &c.code, Some(d)).is_some(), "{} in {d}", c.code);
            }
        }
        // Executors' prefixes all name real categories; codes are unique.
        for (i, e) in execs.iter().enumerate() {
            assert!(execs[..i].iter().all(|o| o.code != e.code), "duplicate {}", e.code);
            for p in &e.categories {
                assert!(cats.iter().any(|c| &c.code == p), "{} covers unknown {p}", e.code);
            }
            for d in &e.districts {
                assert!(
                    default_districts().contains(&d.as_str()),
                    "{} unknown district {d}",
                    e.code
                );
            }
        }
    }

    /// Loading the sample executors into the responsibility map (one line per prefix and
    /// district, as the demo seed does) routes every leaf in every district to the same executor
    /// as [`pick_executor`].
    #[test]
    fn responsibility_map_agrees_with_pick_executor() {
        use crate::routing::{ResponsibilityLine, route};
        let execs = sample_executors();
        let from = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        let mut lines = Vec::new();
        for (i, e) in execs.iter().enumerate() {
            let districts: Vec<Option<String>> = if e.districts.is_empty() {
                vec![None]
            } else {
                e.districts.iter().cloned().map(Some).collect()
            };
            for p in &e.categories {
                for d in &districts {
                    lines.push(ResponsibilityLine {
                        id: i64::try_from(lines.len()).unwrap(),
                        category_prefix: p.clone(),
                        district: d.clone(),
                        building_key: None,
                        executor_id: i64::try_from(i).unwrap(),
                        valid_from: from,
                        valid_to: None,
                    });
                }
            }
        }
        let now = from + chrono::TimeDelta::days(1);
        for c in default_categories().iter().filter(|c| c.is_leaf) {
            for d in default_districts().into_iter().map(Some).chain([None]) {
                let by_map = route(&lines, &c.code, d, None, now)
                    .map(|l| &execs[usize::try_from(l.executor_id).unwrap()].code);
                let by_pick = pick_executor(&execs, &c.code, d).map(|e| &e.code);
                assert_eq!(by_map, by_pick, "{} in {d:?}", c.code);
            }
        }
    }

    #[test]
    fn districts_and_renames() {
        assert_eq!(default_districts().len(), 7);
        let cases: &[(&str, Option<&str>)] = &[
            ("Космічний", Some("Космічний")),
            ("космічний район", Some("Космічний")),
            ("  Комунарський  р-н ", Some("Космічний")),
            ("Ленінський", Some("Дніпровський")),
            ("Жовтневий район", Some("Олександрівський")),
            ("Орджонікідзевський", Some("Вознесенівський")),
            ("ШЕВЧЕНКІВСЬКИЙ", Some("Шевченківський")),
            ("Печерський", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_district(input), *want, "{input:?}");
        }
    }

    #[test]
    fn routing_picks_the_most_specific() {
        let execs = sample_executors();
        let code =
            |cat: &str, d: Option<&str>| pick_executor(&execs, cat, d).map(|e| e.code.as_str());
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            ("water.no_cold_water", Some("Хортицький"), Some("vodokanal")),
            ("sewage.blockage", Some("Хортицький"), Some("housing_khortytskyi")),
            ("sewage.blockage", None, Some("vodokanal")),
            ("sewage.overflow", Some("Заводський"), Some("vodokanal")),
            ("electricity.no_power", Some("Заводський"), Some("oblenergo")),
            ("electricity.stair_lighting", Some("Заводський"), Some("housing_zavodskyi")),
            ("electricity.stair_lighting", None, None),
            ("building.roof_leak", Some("Дніпровський"), Some("housing_dniprovskyi")),
            ("yard.fallen_tree", Some("Дніпровський"), Some("greenery")),
            ("yard.tree_pruning", Some("Дніпровський"), Some("greenery")),
            ("yard.improvement_proposal", Some("Дніпровський"), Some("appeals_department")),
            ("yard.snow_ice", Some("Дніпровський"), Some("housing_dniprovskyi")),
            ("roads.snow", Some("Дніпровський"), Some("roads")),
            ("yard.cleaning", Some("Дніпровський"), Some("housing_dniprovskyi")),
            ("roads.street_light", None, Some("street_lighting")),
            ("roads.pothole", None, Some("roads")),
            ("waste.illegal_dump", None, Some("improvement_inspection")),
            ("consult.tariffs", None, Some("contact_center")),
            ("nothing.here", None, None),
        ];
        for (cat, d, want) in cases {
            assert_eq!(code(cat, *d), *want, "{cat} {d:?}");
        }
    }
}
