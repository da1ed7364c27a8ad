"""The requirements engine as tables (one row per rule and boundary), its properties
(hypothesis), and the public endpoint over it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.common import requirements as req
from services.common.requirements import (
    DOCUMENT_LABELS,
    MINIMUM_AGE,
    MOTIF_DOCUMENTS,
    MOTIF_LABELS,
    RULES,
    Applicant,
    age_on,
    explain,
    is_old_enough,
    minimum_age,
    missing_documents,
    needs_legal_representative,
    required_documents,
)
from services.gateway import problems
from services.gateway.routes import requirements as route
from workflows.models import (
    Category,
    CivilStatusStep,
    DocumentKind,
    Journey,
    LegalRepresentative,
    Motif,
    MotifStep,
    RepresentativeRelationship,
    TitleMotif,
)

ON = date(2025, 6, 2)
ADULT = date(1995, 3, 10)  # 30 on ON: no service-national document, born after 1988

D = DocumentKind
BASE = [D.IDENTITY_PROOF, D.PROOF_OF_ADDRESS]
HEAVY = [
    Category.C1,
    Category.C1E,
    Category.C,
    Category.CE,
    Category.D1,
    Category.D1E,
    Category.D,
    Category.DE,
]


def inscription(
    motif: Motif = Motif.FIRST_REGISTRATION,
    category: Category = Category.B,
    born: date = ADULT,
    nationality: str = "FR",
    **flags: Any,
) -> Applicant:
    return Applicant(motif, category, born, nationality, **flags)


def title(
    motif: TitleMotif,
    category: Category = Category.B,
    born: date = ADULT,
    nationality: str = "FR",
    **flags: Any,
) -> Applicant:
    return Applicant(motif, category, born, nationality, journey=Journey.TITLE, **flags)


def reasons_of(applicant: Applicant, kind: DocumentKind) -> tuple[str, ...]:
    (found,) = [r for r in explain(applicant, ON) if r.kind is kind]
    return found.reasons


def birthday(years: int, on: date = ON, days: int = 0) -> date:
    """The birth date of someone who turns ``years`` on ``on`` (shifted by ``days``)."""
    return on.replace(year=on.year - years) + timedelta(days=days)


# ---- every motif of both journeys ---------------------------------------------------

MOTIF_TABLE: list[tuple[Journey, Motif | TitleMotif, list[DocumentKind]]] = [
    (Journey.INSCRIPTION, Motif.FIRST_REGISTRATION, []),
    (Journey.INSCRIPTION, Motif.EXTENSION, [D.CURRENT_LICENCE]),
    (
        Journey.INSCRIPTION,
        Motif.RETURN_AFTER_CANCELLATION,
        [D.REFERENCE_44_07, D.MEDICAL_OPINION, D.PSYCHOTECHNICAL_TESTS],
    ),
    (Journey.TITLE, TitleMotif.EXAM_SUCCESS_FIRST_TITLE, [D.ASSR2_OR_ASR]),
    (Journey.TITLE, TitleMotif.EXAM_SUCCESS_NEW_CATEGORY, [D.CURRENT_LICENCE]),
    (Journey.TITLE, TitleMotif.LOSS, [D.LOSS_DECLARATION]),
    (Journey.TITLE, TitleMotif.THEFT, [D.THEFT_DECLARATION]),
    (Journey.TITLE, TitleMotif.DAMAGE, [D.DAMAGED_LICENCE]),
    (Journey.TITLE, TitleMotif.END_OF_VALIDITY, [D.CURRENT_LICENCE]),
    (
        Journey.TITLE,
        TitleMotif.CIVIL_STATUS_CHANGE,
        [D.CIVIL_STATUS_CHANGE_PROOF, D.CURRENT_LICENCE],
    ),
    (Journey.TITLE, TitleMotif.MILITARY_LICENCE_CONVERSION, [D.MILITARY_LICENCE]),
    (Journey.TITLE, TitleMotif.PROFESSIONAL_DIPLOMA, [D.PROFESSIONAL_DIPLOMA]),
    (
        Journey.TITLE,
        TitleMotif.AFTER_CANCELLATION,
        [D.REFERENCE_44_07, D.MEDICAL_OPINION, D.PSYCHOTECHNICAL_TESTS],
    ),
    (Journey.TITLE, TitleMotif.AFTER_SUSPENSION, [D.SUSPENSION_DECISION, D.MEDICAL_OPINION]),
]


def test_the_motif_table_covers_every_motif_of_both_journeys() -> None:
    assert {motif for _, motif, _ in MOTIF_TABLE} == {*Motif, *TitleMotif}
    assert set(MOTIF_DOCUMENTS) == set(MOTIF_LABELS) == {*Motif, *TitleMotif}


@pytest.mark.parametrize(("journey", "motif", "extra"), MOTIF_TABLE)
def test_each_motif_requires_its_documents(
    journey: Journey, motif: Motif | TitleMotif, extra: list[DocumentKind]
) -> None:
    """A French adult of 30 asking for B: the base documents, then the motif's own."""
    applicant = Applicant(motif, Category.B, ADULT, "FR", journey=journey)
    assert required_documents(applicant, ON) == BASE + extra
    assert all(r.reasons for r in explain(applicant, ON))


def test_the_reasons_name_the_situation() -> None:
    assert reasons_of(title(TitleMotif.THEFT), D.THEFT_DECLARATION) == (
        "votre permis a été volé : récépissé de la déclaration de vol (police ou gendarmerie)",
    )
    assert "18 et 25 ans" in reasons_of(inscription(born=birthday(20)), D.JDC_CERTIFICATE)[0]
    assert reasons_of(inscription(category=Category.CE), D.MEDICAL_OPINION) == (
        "la catégorie CE (poids lourd ou transport en commun) exige un avis médical",
    )


# ---- service national (French nationals), by age, on the exact birthday ------------

JDC_TABLE: list[tuple[date, list[DocumentKind]]] = [
    (birthday(16, days=1), [D.LEGAL_REPRESENTATIVE_ID]),  # 15, 16 tomorrow
    (birthday(16), [D.CENSUS_CERTIFICATE, D.LEGAL_REPRESENTATIVE_ID]),  # 16 today
    (birthday(18, days=1), [D.CENSUS_CERTIFICATE, D.LEGAL_REPRESENTATIVE_ID]),  # 17
    (birthday(18), [D.JDC_CERTIFICATE]),  # 18 today
    (birthday(25, days=1), [D.JDC_CERTIFICATE]),  # 24, 25 tomorrow
    (birthday(25), []),  # 25 today
    (birthday(60), []),
]


@pytest.mark.parametrize(("born", "extra"), JDC_TABLE)
def test_service_national_documents_follow_the_age(born: date, extra: list[DocumentKind]) -> None:
    applicant = inscription(category=Category.AM, born=born)
    assert required_documents(applicant, ON) == [*BASE, *extra, D.TRAINING_CERTIFICATE]


@pytest.mark.parametrize(
    ("nationality", "extra"),
    [
        ("FR", [D.JDC_CERTIFICATE]),
        ("DE", []),
        ("GR", []),
        ("IS", []),
        ("LI", []),
        ("NO", []),
        ("CH", []),
        ("MA", [D.RESIDENCE_PERMIT]),
        ("US", [D.RESIDENCE_PERMIT]),
        ("GB", [D.RESIDENCE_PERMIT]),
        ("ma", [D.RESIDENCE_PERMIT]),  # normalised
    ],
)
def test_nationality_eea_or_not(nationality: str, extra: list[DocumentKind]) -> None:
    """At 20: French nationals give the JDC, EU/EEA/Swiss nothing, others a residence proof."""
    applicant = inscription(born=birthday(20), nationality=nationality)
    assert required_documents(applicant, ON) == BASE + extra


# ---- legal representative -------------------------------------------------------------


@pytest.mark.parametrize(
    ("born", "under_guardianship", "codes"),
    [
        (birthday(18, days=1), False, ("representative:minor",)),
        (birthday(18), False, ()),
        (birthday(40), True, ("representative:guardianship",)),
        (birthday(17), True, ("representative:minor", "representative:guardianship")),
    ],
)
def test_minors_and_people_under_guardianship_give_their_representative(
    born: date, under_guardianship: bool, codes: tuple[str, ...]
) -> None:
    applicant = inscription(born=born, under_guardianship=under_guardianship)
    found = [r for r in explain(applicant, ON) if r.kind is D.LEGAL_REPRESENTATIVE_ID]
    assert tuple(code for r in found for code in r.rules) == codes
    assert needs_legal_representative(applicant, ON) is bool(codes)


def test_representative_details_on_the_civil_status_step() -> None:
    step = CivilStatusStep(
        family_name="Martin",
        given_names="Léa",
        birth_date=birthday(15),
        birth_place="Lyon",
        sex="F",
        legal_representative=LegalRepresentative(
            family_name="Martin",
            given_names="Jeanne",
            relationship=RepresentativeRelationship.MOTHER,
            email="jeanne.martin@exemple.fr",
        ),
    )
    assert step.under_guardianship is False
    assert step.legal_representative is not None
    with pytest.raises(ValidationError):
        LegalRepresentative.model_validate(
            {"family_name": "M4rtin", "given_names": "J", "relationship": "mother"}
        )
    adult = step.model_copy(update={"birth_date": birthday(40), "under_guardianship": True})
    applicant = Applicant.from_steps(
        MotifStep(motif=Motif.FIRST_REGISTRATION, category=Category.B), adult
    )
    assert applicant.under_guardianship
    assert D.LEGAL_REPRESENTATIVE_ID in required_documents(applicant, ON)


# ---- medical opinion ----------------------------------------------------------------------


@pytest.mark.parametrize("category", list(Category))
def test_heavy_categories_need_a_medical_opinion_to_be_obtained(category: Category) -> None:
    for applicant in (
        inscription(category=category),
        inscription(Motif.EXTENSION, category=category),
        title(TitleMotif.EXAM_SUCCESS_FIRST_TITLE, category=category),
        title(TitleMotif.MILITARY_LICENCE_CONVERSION, category=category),
        title(TitleMotif.PROFESSIONAL_DIPLOMA, category=category),
    ):
        assert (D.MEDICAL_OPINION in required_documents(applicant, ON)) is (category in HEAVY)


@pytest.mark.parametrize(
    ("applicant", "codes"),
    [
        (title(TitleMotif.END_OF_VALIDITY, Category.C), ("medical:heavy_renewal",)),
        (title(TitleMotif.END_OF_VALIDITY, Category.D1E), ("medical:heavy_renewal",)),
        (title(TitleMotif.END_OF_VALIDITY, Category.B), ()),
        # A duplicate keeps the card's medical validity.
        (title(TitleMotif.LOSS, Category.C), ()),
        (title(TitleMotif.THEFT, Category.D), ()),
        (title(TitleMotif.DAMAGE, Category.CE), ()),
        (title(TitleMotif.CIVIL_STATUS_CHANGE, Category.C1), ()),
        (
            title(TitleMotif.LOSS, Category.C, medical_condition_declared=True),
            ("medical:declared_condition",),
        ),
        (inscription(medical_condition_declared=True), ("medical:declared_condition",)),
        (
            inscription(Motif.RETURN_AFTER_CANCELLATION),
            ("motif:return_after_cancellation:medical_opinion",),
        ),
        (
            title(TitleMotif.AFTER_CANCELLATION, Category.C),
            ("motif:after_cancellation:medical_opinion", "medical:heavy_category"),
        ),
        (title(TitleMotif.AFTER_SUSPENSION), ("motif:after_suspension:medical_opinion",)),
        (
            title(TitleMotif.AFTER_SUSPENSION, Category.D),
            ("motif:after_suspension:medical_opinion",),
        ),
        (
            inscription(
                Motif.RETURN_AFTER_CANCELLATION, Category.C, medical_condition_declared=True
            ),
            (
                "motif:return_after_cancellation:medical_opinion",
                "medical:heavy_category",
                "medical:declared_condition",
            ),
        ),
    ],
)
def test_medical_opinion_rules(applicant: Applicant, codes: tuple[str, ...]) -> None:
    found = [r for r in explain(applicant, ON) if r.kind is D.MEDICAL_OPINION]
    assert tuple(code for r in found for code in r.rules) == codes
    if found:
        assert found[0].reason == " ; ".join(found[0].reasons)


@pytest.mark.parametrize(
    "applicant",
    [inscription(Motif.RETURN_AFTER_CANCELLATION), title(TitleMotif.AFTER_CANCELLATION)],
)
def test_cancellation_needs_44_07_and_psychotechnical_tests(applicant: Applicant) -> None:
    kinds = required_documents(applicant, ON)
    assert {D.REFERENCE_44_07, D.PSYCHOTECHNICAL_TESTS, D.MEDICAL_OPINION} <= set(kinds)
    other = inscription(Motif.EXTENSION)
    assert not {D.REFERENCE_44_07, D.PSYCHOTECHNICAL_TESTS} & set(required_documents(other, ON))


# ---- training certificates ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("applicant", "codes"),
    [
        (inscription(category=Category.AM, born=birthday(14)), ("training:am",)),
        (inscription(Motif.EXTENSION, Category.AM), ("training:am",)),
        (title(TitleMotif.EXAM_SUCCESS_FIRST_TITLE, Category.AM), ("training:am",)),
        (title(TitleMotif.LOSS, Category.AM), ()),
        (
            title(TitleMotif.EXAM_SUCCESS_NEW_CATEGORY, Category.A, a2_progression=True),
            ("training:a2_progression",),
        ),
        (title(TitleMotif.EXAM_SUCCESS_NEW_CATEGORY, Category.A), ()),
        (title(TitleMotif.EXAM_SUCCESS_NEW_CATEGORY, b96_training=True), ("training:b96",)),
        (
            title(TitleMotif.EXAM_SUCCESS_NEW_CATEGORY, code78_removal=True),
            ("training:code78_removal",),
        ),
        (
            title(TitleMotif.EXAM_SUCCESS_NEW_CATEGORY, b96_training=True, code78_removal=True),
            ("training:b96", "training:code78_removal"),
        ),
        (inscription(), ()),
    ],
)
def test_training_certificates(applicant: Applicant, codes: tuple[str, ...]) -> None:
    found = [r for r in explain(applicant, ON) if r.kind is D.TRAINING_CERTIFICATE]
    assert tuple(code for r in found for code in r.rules) == codes


@pytest.mark.parametrize(
    ("flag", "category"),
    [
        ("supervised_learning", Category.C),
        ("a2_progression", Category.A2),
        ("b96_training", Category.BE),
        ("code78_removal", Category.A),
    ],
)
def test_a_flag_belongs_to_its_category(flag: str, category: Category) -> None:
    with pytest.raises(ValueError, match="ne concerne que la catégorie"):
        flags: dict[str, Any] = {flag: True}
        inscription(category=category, **flags)


# ---- ASSR2 / ASR ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("applicant", "required"),
    [
        (title(TitleMotif.EXAM_SUCCESS_FIRST_TITLE, born=date(1988, 1, 1)), True),
        (title(TitleMotif.EXAM_SUCCESS_FIRST_TITLE, born=date(1987, 12, 31)), False),
        (title(TitleMotif.EXAM_SUCCESS_FIRST_TITLE, born=date(2007, 5, 1)), True),
        (title(TitleMotif.EXAM_SUCCESS_NEW_CATEGORY, born=date(2000, 1, 1)), False),
        (title(TitleMotif.LOSS, born=date(2000, 1, 1)), False),
        (inscription(born=date(2000, 1, 1)), False),
    ],
)
def test_assr2_for_a_first_title_when_born_from_1988(applicant: Applicant, required: bool) -> None:
    assert (D.ASSR2_OR_ASR in required_documents(applicant, ON)) is required


# ---- minimum ages ---------------------------------------------------------------------------

AGE_TABLE: dict[Category, int] = {
    Category.AM: 14,
    Category.A1: 16,
    Category.B1: 16,
    Category.B: 17,
    Category.A2: 18,
    Category.BE: 18,
    Category.C1: 18,
    Category.C1E: 18,
    Category.A: 24,
    Category.C: 21,
    Category.CE: 21,
    Category.D1: 21,
    Category.D1E: 21,
    Category.D: 24,
    Category.DE: 24,
}


def test_every_category_has_a_minimum_age() -> None:
    assert MINIMUM_AGE == AGE_TABLE
    assert set(MINIMUM_AGE) == set(Category)


@pytest.mark.parametrize(("category", "age"), AGE_TABLE.items())
def test_old_enough_on_the_exact_birthday(category: Category, age: int) -> None:
    assert minimum_age(inscription(category=category)) == age
    assert is_old_enough(inscription(category=category, born=birthday(age)), ON)
    assert not is_old_enough(inscription(category=category, born=birthday(age, days=1)), ON)
    # The same limit for the title produced after the exam.
    first_title = title(TitleMotif.EXAM_SUCCESS_FIRST_TITLE, category, birthday(age, days=1))
    assert not is_old_enough(first_title, ON)


@pytest.mark.parametrize(
    ("applicant", "minimum"),
    [
        (inscription(supervised_learning=True), 15),
        (title(TitleMotif.EXAM_SUCCESS_FIRST_TITLE, supervised_learning=True), 17),
        (title(TitleMotif.EXAM_SUCCESS_NEW_CATEGORY, Category.A, a2_progression=True), 20),
        (title(TitleMotif.EXAM_SUCCESS_NEW_CATEGORY, Category.A), 24),
    ],
)
def test_flags_lower_the_minimum_age(applicant: Applicant, minimum: int) -> None:
    assert minimum_age(applicant) == minimum
    at = Applicant(
        applicant.motif,
        applicant.category,
        birthday(minimum),
        "FR",
        journey=applicant.journey,
        supervised_learning=applicant.supervised_learning,
        a2_progression=applicant.a2_progression,
    )
    day_before = Applicant(
        at.motif,
        at.category,
        birthday(minimum, days=1),
        "FR",
        journey=at.journey,
        supervised_learning=at.supervised_learning,
        a2_progression=at.a2_progression,
    )
    assert is_old_enough(at, ON) and not is_old_enough(day_before, ON)


@pytest.mark.parametrize("motif", sorted(req.REISSUE_MOTIFS))
def test_a_reissued_title_is_never_refused_for_age(motif: TitleMotif) -> None:
    assert is_old_enough(title(motif, Category.A, birthday(21)), ON)


def test_age_counts_whole_years_including_29_february() -> None:
    assert age_on(date(2008, 2, 29), date(2025, 2, 28)) == 16
    assert age_on(date(2008, 2, 29), date(2025, 3, 1)) == 17
    assert age_on(date(2008, 2, 29), date(2028, 2, 29)) == 20


# ---- the applicant's contract -------------------------------------------------------------


def test_applicant_stays_backwards_compatible() -> None:
    applicant = Applicant(Motif.EXTENSION, Category.B, ADULT, "FR")
    assert applicant.journey is Journey.INSCRIPTION
    assert Applicant(Motif.EXTENSION, Category.B, ADULT) == applicant
    with pytest.raises(TypeError):
        Applicant(Motif.EXTENSION, Category.B, ADULT, "FR", Journey.INSCRIPTION)  # type: ignore[misc]


def test_plain_strings_become_enums() -> None:
    applicant = Applicant("loss", "C", ADULT, "fr", journey="title")  # type: ignore[arg-type]
    assert applicant.motif is TitleMotif.LOSS and applicant.category is Category.C
    assert applicant.journey is Journey.TITLE and applicant.nationality == "FR"


@pytest.mark.parametrize(
    ("motif", "journey"),
    [(TitleMotif.LOSS, Journey.INSCRIPTION), (Motif.EXTENSION, Journey.TITLE)],
)
def test_the_motif_belongs_to_the_journey(motif: Motif | TitleMotif, journey: Journey) -> None:
    with pytest.raises(ValueError, match="ne correspond pas"):
        Applicant(motif, Category.B, ADULT, journey=journey)


def test_labels_and_reasons_are_complete_french() -> None:
    assert set(DOCUMENT_LABELS) == set(DocumentKind)
    assert all(label[0].isupper() for label in DOCUMENT_LABELS.values())
    codes = [rule.code for rule in RULES]
    assert len(codes) == len(set(codes))


def test_missing_documents_keeps_the_order() -> None:
    applicant = inscription(Motif.RETURN_AFTER_CANCELLATION, born=birthday(20))
    provided = {D.IDENTITY_PROOF, D.MEDICAL_OPINION}
    assert missing_documents(applicant, ON, provided) == [
        D.PROOF_OF_ADDRESS,
        D.JDC_CERTIFICATE,
        D.REFERENCE_44_07,
        D.PSYCHOTECHNICAL_TESTS,
    ]


# ---- properties -------------------------------------------------------------------------------

NATIONALITIES = ["FR", "DE", "IT", "CH", "NO", "MA", "US", "SN", "GB", "CN"]
FLAG_CATEGORY = {
    "supervised_learning": Category.B,
    "a2_progression": Category.A,
    "b96_training": Category.B,
    "code78_removal": Category.B,
}
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2045, 12, 31))


@st.composite
def applicants(draw: st.DrawFn, born_before: date = date(2045, 12, 31)) -> Applicant:
    journey = draw(st.sampled_from(list(Journey)))
    motif = draw(st.sampled_from(sorted(req.JOURNEY_MOTIFS[journey])))
    category = draw(st.sampled_from(list(Category)))
    flags = {
        name: draw(st.booleans()) for name, owner in FLAG_CATEGORY.items() if owner is category
    }
    return Applicant(
        motif,
        category,
        draw(st.dates(min_value=date(1920, 1, 1), max_value=born_before)),
        draw(st.sampled_from(NATIONALITIES)),
        journey=journey,
        under_guardianship=draw(st.booleans()),
        medical_condition_declared=draw(st.booleans()),
        **flags,
    )


@given(applicants(), days)
def test_no_duplicates_and_always_identity_and_address(applicant: Applicant, on: date) -> None:
    kinds = required_documents(applicant, on)
    assert len(kinds) == len(set(kinds))
    assert kinds[:2] == BASE
    assert missing_documents(applicant, on, set(kinds)) == []
    assert missing_documents(applicant, on, set()) == kinds


@given(applicants(), days)
def test_a_document_is_required_only_with_a_reason(applicant: Applicant, on: date) -> None:
    rules = {rule.code: rule for rule in RULES}
    order = [rule.code for rule in RULES]
    first_rules = []
    for item in explain(applicant, on):
        assert item.label == DOCUMENT_LABELS[item.kind]
        assert item.reasons and len(item.reasons) == len(item.rules)
        assert all(text and "{" not in text for text in item.reasons)
        assert all(rules[code].kind is item.kind for code in item.rules)
        first_rules.append(order.index(item.rules[0]))
    # Stable order: a kind sits where the first rule requiring it sits in the table.
    assert first_rules == sorted(first_rules)
    assert explain(applicant, on) == explain(applicant, on)


@given(applicants())
def test_residence_permit_exactly_for_non_eea_nationals(applicant: Applicant) -> None:
    needed = D.RESIDENCE_PERMIT in required_documents(applicant, ON)
    assert needed is (applicant.nationality not in req.EEA_NATIONALITIES)


def _service_national_stage(applicant: Applicant, on: date) -> int:
    kinds = set(required_documents(applicant, on))
    assert not {D.CENSUS_CERTIFICATE, D.JDC_CERTIFICATE} <= kinds
    if D.CENSUS_CERTIFICATE in kinds:
        return 1
    if D.JDC_CERTIFICATE in kinds:
        return 2
    return 0 if age_on(applicant.birth_date, on) < 16 else 3


@given(
    st.dates(min_value=date(1960, 1, 1), max_value=date(2030, 12, 31)),
    st.integers(min_value=0, max_value=40 * 366),
    st.integers(min_value=0, max_value=5 * 366),
)
def test_service_national_only_moves_forward_with_age(born: date, start: int, gap: int) -> None:
    """None before 16, census, JDC, none from 25: never back to an earlier stage."""
    applicant = inscription(born=born)
    earlier = born + timedelta(days=start)
    later = earlier + timedelta(days=gap)
    assert _service_national_stage(applicant, earlier) <= _service_national_stage(applicant, later)


@given(applicants(), days, st.integers(min_value=0, max_value=3000))
def test_once_old_enough_always_old_enough(applicant: Applicant, on: date, gap: int) -> None:
    if is_old_enough(applicant, on):
        assert is_old_enough(applicant, on + timedelta(days=gap))


@given(applicants(), days, st.sampled_from(["under_guardianship", "medical_condition_declared"]))
def test_declaring_more_never_asks_for_less(applicant: Applicant, on: date, flag: str) -> None:
    without = Applicant(
        applicant.motif,
        applicant.category,
        applicant.birth_date,
        applicant.nationality,
        journey=applicant.journey,
        **{flag: False},
    )
    with_flag = Applicant(
        applicant.motif,
        applicant.category,
        applicant.birth_date,
        applicant.nationality,
        journey=applicant.journey,
        **{flag: True},
    )
    assert set(required_documents(without, on)) <= set(required_documents(with_flag, on))


@settings(max_examples=50)
@given(applicants(born_before=date(1987, 12, 31)), days)
def test_nobody_born_before_1988_gives_an_assr(applicant: Applicant, on: date) -> None:
    assert D.ASSR2_OR_ASR not in required_documents(applicant, on)


# ---- the public endpoint -------------------------------------------------------------------


@pytest.fixture(scope="module")
def http() -> Iterator[TestClient]:
    app = FastAPI()
    problems.install(app)
    app.include_router(route.router)
    with TestClient(app) as client:
        yield client


def test_endpoint_keeps_its_historical_contract(http: TestClient) -> None:
    response = http.get(
        "/v1/requirements",
        params={
            "motif": "first_registration",
            "category": "B",
            "birth_date": "2009-05-01",
            "on": "2025-06-02",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    kinds = [d["kind"] for d in body["documents"]]
    assert "legal_representative_id" in kinds and "census_certificate" in kinds
    assert body["minimum_age"] == 17 and body["old_enough"] is False
    assert body["motif"] == "first_registration" and body["journey"] == "inscription"
    assert all(d["label"] and d["reason"] and d["reasons"] for d in body["documents"])
    # Without a reference day: today, in Paris.
    today = http.get(
        "/v1/requirements",
        params={"motif": "first_registration", "category": "B", "birth_date": "1990-05-01"},
    )
    assert today.status_code == 200 and today.json()["minimum_age"] == 17


def test_endpoint_title_journey_with_reasons(http: TestClient) -> None:
    response = http.get(
        "/v1/requirements",
        params={
            "title_motif": "theft",
            "category": "C",
            "birth_date": "1995-03-10",
            "nationality": "MA",
            "on": "2025-06-02",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["journey"] == "title" and body["motif"] == "theft"
    assert body["motif_label"] == "vol du permis"
    documents = {d["kind"]: d for d in body["documents"]}
    assert list(documents) == [
        "identity_proof",
        "proof_of_address",
        "residence_permit",
        "theft_declaration",
    ]
    assert "déclaration de vol" in documents["theft_declaration"]["reason"]


def test_endpoint_flags(http: TestClient) -> None:
    aac = http.get(
        "/v1/requirements",
        params={
            "motif": "first_registration",
            "category": "B",
            "birth_date": "2010-06-02",
            "supervised_learning": "true",
            "on": "2025-06-02",
        },
    ).json()
    assert aac["minimum_age"] == 15 and aac["old_enough"] is True
    assert aac["legal_representative_required"] is True
    guarded = http.get(
        "/v1/requirements",
        params={
            "journey": "title",
            "title_motif": "exam_success_new_category",
            "category": "B",
            "birth_date": "1980-01-01",
            "under_guardianship": "true",
            "b96_training": "true",
            "on": "2025-06-02",
        },
    ).json()
    kinds = [d["kind"] for d in guarded["documents"]]
    assert kinds == [
        "identity_proof",
        "proof_of_address",
        "legal_representative_id",
        "current_licence",
        "training_certificate",
    ]


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"category": "B"}, "missing_fields", "motif"),
        ({"category": "B", "journey": "title"}, "missing_fields", "title_motif"),
        (
            {"category": "B", "motif": "extension", "title_motif": "loss"},
            "invalid_field",
            "title_motif",
        ),
        (
            {"category": "B", "journey": "title", "motif": "extension", "title_motif": "loss"},
            "invalid_field",
            "motif",
        ),
        (
            {"category": "C", "motif": "first_registration", "b96_training": "true"},
            "invalid_field",
            "category",
        ),
        (
            {"category": "B", "motif": "first_registration", "birth_date": "2030-01-01"},
            "invalid_field",
            "birth_date",
        ),
        ({"category": "B", "motif": "lottery"}, "invalid_field", "motif"),
        ({"category": "B", "title_motif": "lottery"}, "invalid_field", "title_motif"),
    ],
)
def test_endpoint_refuses_inconsistent_questions(
    http: TestClient, params: dict[str, str], code: str, field: str
) -> None:
    response = http.get(
        "/v1/requirements", params={"birth_date": "1995-03-10", "on": "2025-06-02", **params}
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == code
    assert field in {error["field"] for error in body["errors"]}
