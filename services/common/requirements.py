"""The requirements engine: which documents a request needs, why, and who may ask for it.

One place, data-driven: the gateway shows the list (with its reasons) before any upload,
the workflow refuses a submission that lacks a document, and the CTN checks completeness
against it. Pure functions of their arguments (the date included), so workflows can call
them and replay them.

How it decides
--------------
``RULES`` is a table of ``Rule`` rows: a document kind, a predicate over the ``Situation``
(the applicant plus their age on the reference day) and the French reason shown to the
candidate. ``explain`` walks the table in order; a kind appears once, at the position of
the first rule that requires it, with the reasons of every rule that does. Adding a rule
is adding a row, never an ``if``.

The rows, in order (the notice's « Dans tous les cas » first, then « Selon les
situations »):

* always: identity proof, proof of address;
* service national (French nationals only): census certificate from 16 to 17, JDC
  certificate from 18 to 24, nothing from 25 (nor before 16);
* nationals of neither the EU, the EEA nor Switzerland: proof of regular stay;
* minors and people under guardianship: the legal representative's ID;
* the motif's own documents (``MOTIF_DOCUMENTS``): current licence for an extension or a
  new category, loss or theft declaration, the damaged card, proof of a civil-status
  change, the military licence, the professional diploma, the 44/07 reference + medical
  opinion + psychotechnical tests after invalidation or cancellation, the suspension
  decision + medical opinion after a suspension (a suspension short enough to need no
  medical check gives the card back without any request);
* medical opinion for heavy categories (C1, C1E, C, CE, D1, D1E, D, DE) when the category
  is obtained, and when such a licence is renewed at the end of its validity, or whenever
  the candidate declares a medical condition. A duplicate (loss, theft, damage,
  civil-status change) reissues the card with its current medical validity: no opinion;
* training certificates (see below);
* ASSR2 or ASR: title journey, first title (exam success), born on or after 1 Jan 1988.

Training certificates: the notice lists « AM, A, B96 ou levée du code 78 ». AM is a
category, so the AM row keys on the category (when it is obtained). The three others are
not categories of their own: A after two years of A2 is category A reached by training
rather than by the exam, and B96 and the removal of code 78 are a mention on, and a
restriction lifted from, a B licence. They are modelled as flags on the applicant
(``a2_progression``, ``b96_training``, ``code78_removal``) rather than pseudo-categories,
because ``Category`` is the licence's category list (shown on the card, keyed by
``MINIMUM_AGE``) and a pseudo-category would leak into every other service. A flag only
makes sense with its category (A, B, B) and ``Applicant`` refuses it otherwise.

Ages
----
``MINIMUM_AGE`` is the default minimum per category; two flags lower it: early supervised
learning (AAC, ``supervised_learning``) takes B to 15 for an inscription, and progressive
access from A2 (``a2_progression``) takes A to 20 (24 by the direct route). A motif that
reissues a category the candidate already holds (loss, theft, damage, end of validity,
civil-status change, after suspension) is never refused for age. ``minimum_age`` gives the
applicable minimum; ``is_old_enough`` applies it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import date

from workflows.models import (
    Category,
    CivilStatusStep,
    DocumentKind,
    Journey,
    Motif,
    MotifStep,
    TitleMotif,
)

AnyMotif = Motif | TitleMotif

# (public) Default minimum age per category. A is 24 by the direct route (20 through
# progressive access from A2, see ``minimum_age``); B is 17 (15 in AAC for inscription).
MINIMUM_AGE: dict[Category, int] = {
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
SUPERVISED_LEARNING_MINIMUM_AGE = 15  # AAC, category B, inscription
A2_PROGRESSION_MINIMUM_AGE = 20  # category A after two years of A2

# EU/EEA and Swiss nationals need no residence permit.
EEA_NATIONALITIES = frozenset(
    (
        "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IS IT LI LT LU LV MT NL NO PL PT RO SE SI SK "
        "CH"
    ).split()
)

# Heavy categories need a medical opinion from an approved doctor.
MEDICAL_CATEGORIES = frozenset(
    {
        Category.C1,
        Category.C1E,
        Category.C,
        Category.CE,
        Category.D1,
        Category.D1E,
        Category.D,
        Category.DE,
    }
)
TRAINING_CATEGORIES = frozenset({Category.AM})

# Born on or after this day: ASSR2 or ASR for a first title.
ASSR_BORN_FROM = date(1988, 1, 1)

CANCELLATION_MOTIFS: frozenset[AnyMotif] = frozenset(
    {Motif.RETURN_AFTER_CANCELLATION, TitleMotif.AFTER_CANCELLATION}
)
# The card is reissued with the same categories and medical validity.
DUPLICATE_MOTIFS: frozenset[AnyMotif] = frozenset(
    {TitleMotif.LOSS, TitleMotif.THEFT, TitleMotif.DAMAGE, TitleMotif.CIVIL_STATUS_CHANGE}
)
# The candidate already holds the category: no minimum-age check, no "obtaining" rule.
REISSUE_MOTIFS: frozenset[AnyMotif] = DUPLICATE_MOTIFS | {
    TitleMotif.END_OF_VALIDITY,
    TitleMotif.AFTER_SUSPENSION,
}
# A category is obtained through an exam or a training (not by equivalence).
EXAM_MOTIFS: frozenset[AnyMotif] = frozenset(
    {
        *Motif,
        TitleMotif.EXAM_SUCCESS_FIRST_TITLE,
        TitleMotif.EXAM_SUCCESS_NEW_CATEGORY,
        TitleMotif.AFTER_CANCELLATION,
    }
)

JOURNEY_MOTIFS: dict[Journey, frozenset[AnyMotif]] = {
    Journey.INSCRIPTION: frozenset(Motif),
    Journey.TITLE: frozenset(TitleMotif),
}

JOURNEY_LABELS: dict[Journey, str] = {
    Journey.INSCRIPTION: "Inscription au permis de conduire (passage des examens)",
    Journey.TITLE: "Demande de fabrication du titre de conduite",
}

MOTIF_LABELS: dict[AnyMotif, str] = {
    Motif.FIRST_REGISTRATION: "première inscription",
    Motif.EXTENSION: "nouvelle catégorie (extension)",
    Motif.RETURN_AFTER_CANCELLATION: "retour au permis après invalidation ou annulation",
    TitleMotif.EXAM_SUCCESS_FIRST_TITLE: "réussite à l'examen : premier titre",
    TitleMotif.EXAM_SUCCESS_NEW_CATEGORY: "réussite à l'examen : nouvelle catégorie",
    TitleMotif.LOSS: "perte du permis",
    TitleMotif.THEFT: "vol du permis",
    TitleMotif.DAMAGE: "détérioration du permis",
    TitleMotif.END_OF_VALIDITY: "fin de validité du permis",
    TitleMotif.CIVIL_STATUS_CHANGE: "changement d'état civil",
    TitleMotif.MILITARY_LICENCE_CONVERSION: "conversion d'un brevet militaire",
    TitleMotif.PROFESSIONAL_DIPLOMA: "validation d'un diplôme professionnel",
    TitleMotif.AFTER_CANCELLATION: "demande suite à invalidation ou annulation du permis",
    TitleMotif.AFTER_SUSPENSION: "demande suite à une suspension du permis",
}

DOCUMENT_LABELS: dict[DocumentKind, str] = {
    DocumentKind.IDENTITY_PROOF: "Justificatif d'identité",
    DocumentKind.PROOF_OF_ADDRESS: "Justificatif de domicile de moins de 6 mois",
    DocumentKind.JDC_CERTIFICATE: "Certificat de participation à la JDC",
    DocumentKind.CENSUS_CERTIFICATE: "Attestation de recensement",
    DocumentKind.RESIDENCE_PERMIT: "Justificatif de la régularité du séjour",
    DocumentKind.CURRENT_LICENCE: "Copie du permis de conduire actuel",
    DocumentKind.MEDICAL_OPINION: "Avis médical d'un médecin agréé",
    DocumentKind.REFERENCE_44_07: "Référence 44/07",
    DocumentKind.PSYCHOTECHNICAL_TESTS: "Résultat des tests psychotechniques",
    DocumentKind.TRAINING_CERTIFICATE: "Attestation de formation",
    DocumentKind.LEGAL_REPRESENTATIVE_ID: "Pièce d'identité du représentant légal",
    DocumentKind.OTHER: "Autre pièce",
    DocumentKind.ASSR2_OR_ASR: (
        "Attestation scolaire de sécurité routière de second niveau (ASSR2) "
        "ou attestation de sécurité routière (ASR)"
    ),
    DocumentKind.LOSS_DECLARATION: "Déclaration de perte du permis de conduire",
    DocumentKind.THEFT_DECLARATION: "Récépissé de déclaration de vol du permis de conduire",
    DocumentKind.DAMAGED_LICENCE: "Copie du permis de conduire détérioré",
    DocumentKind.CIVIL_STATUS_CHANGE_PROOF: "Justificatif du changement d'état civil",
    DocumentKind.MILITARY_LICENCE: "Copie du brevet militaire de conduite",
    DocumentKind.PROFESSIONAL_DIPLOMA: "Copie du diplôme professionnel",
    DocumentKind.SUSPENSION_DECISION: "Décision de suspension du permis de conduire",
}


# ---- the applicant -------------------------------------------------------------------


@dataclass(frozen=True)
class Applicant:
    """Who asks, and for what. The first four fields keep their historical positions."""

    motif: AnyMotif
    category: Category
    birth_date: date
    nationality: str = "FR"
    _: KW_ONLY
    journey: Journey = Journey.INSCRIPTION
    under_guardianship: bool = False
    # AAC (apprentissage anticipé de la conduite): B from 15, inscription only.
    supervised_learning: bool = False
    medical_condition_declared: bool = False
    # Category A after two years of A2, by a 7-hour training.
    a2_progression: bool = False
    # B96 mention, and removal of code 78 (automatic gearbox), by a 7-hour training.
    b96_training: bool = False
    code78_removal: bool = False

    def __post_init__(self) -> None:
        # Plain strings are accepted and turned into the enums (rules compare members).
        journey = Journey(self.journey)
        if self.motif not in JOURNEY_MOTIFS[journey]:
            raise ValueError(
                f"Le motif « {self.motif} » ne correspond pas à la démarche « {journey} »."
            )
        motif: AnyMotif = (
            Motif(self.motif) if journey is Journey.INSCRIPTION else TitleMotif(self.motif)
        )
        object.__setattr__(self, "journey", journey)
        object.__setattr__(self, "motif", motif)
        object.__setattr__(self, "category", Category(self.category))
        object.__setattr__(self, "nationality", self.nationality.strip().upper())
        for flag, category, label in _FLAG_CATEGORIES:
            if getattr(self, flag) and self.category is not category:
                raise ValueError(f"{label} ne concerne que la catégorie {category.value}.")

    @classmethod
    def from_steps(
        cls,
        motif: MotifStep,
        civil_status: CivilStatusStep,
        journey: Journey = Journey.INSCRIPTION,
    ) -> Applicant:
        """The applicant of an online request, from its motif and civil-status steps."""
        return cls(
            motif.motif,
            motif.category,
            civil_status.birth_date,
            civil_status.nationality,
            journey=journey,
            under_guardianship=civil_status.under_guardianship,
        )


_FLAG_CATEGORIES: tuple[tuple[str, Category, str], ...] = (
    ("supervised_learning", Category.B, "L'apprentissage anticipé de la conduite (AAC)"),
    ("a2_progression", Category.A, "L'accès progressif depuis la catégorie A2"),
    ("b96_training", Category.B, "La formation B96"),
    ("code78_removal", Category.B, "La levée du code 78"),
)


def age_on(birth_date: date, day: date) -> int:
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - int(before_birthday)


def minimum_age(applicant: Applicant) -> int:
    """The minimum age that applies to this applicant (flags may lower the default)."""
    if (
        applicant.category is Category.B
        and applicant.supervised_learning
        and applicant.journey is Journey.INSCRIPTION
    ):
        return SUPERVISED_LEARNING_MINIMUM_AGE
    if applicant.category is Category.A and applicant.a2_progression:
        return A2_PROGRESSION_MINIMUM_AGE
    return MINIMUM_AGE[applicant.category]


def is_old_enough(applicant: Applicant, on: date) -> bool:
    if applicant.motif in REISSUE_MOTIFS:
        return True  # the category is already held: the card is only reissued
    return age_on(applicant.birth_date, on) >= minimum_age(applicant)


def needs_legal_representative(applicant: Applicant, on: date) -> bool:
    """Minors and people under guardianship give their legal representative's details."""
    return applicant.under_guardianship or age_on(applicant.birth_date, on) < 18


# ---- the rules -----------------------------------------------------------------------


@dataclass(frozen=True)
class Situation:
    """What a rule looks at: the applicant and their age on the reference day."""

    applicant: Applicant
    on: date
    age: int

    @property
    def french(self) -> bool:
        return self.applicant.nationality == "FR"

    @property
    def motif(self) -> AnyMotif:
        return self.applicant.motif

    @property
    def category(self) -> Category:
        return self.applicant.category

    def fields(self) -> Mapping[str, object]:
        """The placeholders a reason may use."""
        return {
            "age": self.age,
            "category": self.category.value,
            "motif": MOTIF_LABELS[self.motif],
            "nationality": self.applicant.nationality,
        }


@dataclass(frozen=True)
class Rule:
    """One row of the table: ``kind`` is required when ``when`` holds, because ``reason``.

    ``reason`` is French and may use the placeholders of ``Situation.fields``.
    """

    code: str
    kind: DocumentKind
    when: Callable[[Situation], bool]
    reason: str


@dataclass(frozen=True)
class Requirement:
    """A required document, its label, and every reason that requires it."""

    kind: DocumentKind
    label: str
    reasons: tuple[str, ...] = field(default_factory=tuple)
    rules: tuple[str, ...] = field(default_factory=tuple)

    @property
    def reason(self) -> str:
        return " ; ".join(self.reasons)


_CANCELLED = "votre permis a été invalidé ou annulé"

# The motif's own documents, in the order the candidate is asked for them.
MOTIF_DOCUMENTS: dict[AnyMotif, tuple[tuple[DocumentKind, str], ...]] = {
    Motif.FIRST_REGISTRATION: (),
    Motif.EXTENSION: (
        (
            DocumentKind.CURRENT_LICENCE,
            "vous demandez une nouvelle catégorie (extension) : copie de votre permis actuel",
        ),
    ),
    Motif.RETURN_AFTER_CANCELLATION: (
        (DocumentKind.REFERENCE_44_07, _CANCELLED + " : référence 44/07 de la décision"),
        (DocumentKind.MEDICAL_OPINION, _CANCELLED + " : un contrôle médical est exigé"),
        (DocumentKind.PSYCHOTECHNICAL_TESTS, _CANCELLED + " : tests psychotechniques exigés"),
    ),
    TitleMotif.EXAM_SUCCESS_FIRST_TITLE: (),
    TitleMotif.EXAM_SUCCESS_NEW_CATEGORY: (
        (
            DocumentKind.CURRENT_LICENCE,
            "vous êtes déjà titulaire d'un permis : copie du titre actuel, "
            "que le nouveau titre remplace",
        ),
    ),
    TitleMotif.LOSS: (
        (DocumentKind.LOSS_DECLARATION, "vous avez perdu votre permis : déclaration de perte"),
    ),
    TitleMotif.THEFT: (
        (
            DocumentKind.THEFT_DECLARATION,
            "votre permis a été volé : récépissé de la déclaration de vol (police ou gendarmerie)",
        ),
    ),
    TitleMotif.DAMAGE: (
        (
            DocumentKind.DAMAGED_LICENCE,
            "votre permis est détérioré : copie ou photo du titre abîmé",
        ),
    ),
    TitleMotif.END_OF_VALIDITY: (
        (
            DocumentKind.CURRENT_LICENCE,
            "votre permis arrive en fin de validité : copie du titre à renouveler",
        ),
    ),
    TitleMotif.CIVIL_STATUS_CHANGE: (
        (
            DocumentKind.CIVIL_STATUS_CHANGE_PROOF,
            "vous avez changé d'état civil : justificatif du changement "
            "(acte de mariage, jugement, acte de naissance mis à jour…)",
        ),
        (
            DocumentKind.CURRENT_LICENCE,
            "vous avez changé d'état civil : copie du titre à mettre à jour",
        ),
    ),
    TitleMotif.MILITARY_LICENCE_CONVERSION: (
        (
            DocumentKind.MILITARY_LICENCE,
            "vous demandez la conversion d'un brevet militaire : copie du brevet",
        ),
    ),
    TitleMotif.PROFESSIONAL_DIPLOMA: (
        (
            DocumentKind.PROFESSIONAL_DIPLOMA,
            "vous demandez la validation d'un diplôme professionnel : copie du diplôme",
        ),
    ),
    TitleMotif.AFTER_CANCELLATION: (
        (DocumentKind.REFERENCE_44_07, _CANCELLED + " : référence 44/07 de la décision"),
        (DocumentKind.MEDICAL_OPINION, _CANCELLED + " : un contrôle médical est exigé"),
        (DocumentKind.PSYCHOTECHNICAL_TESTS, _CANCELLED + " : tests psychotechniques exigés"),
    ),
    TitleMotif.AFTER_SUSPENSION: (
        (
            DocumentKind.SUSPENSION_DECISION,
            "votre permis a été suspendu : décision de suspension",
        ),
        (
            DocumentKind.MEDICAL_OPINION,
            "votre permis a été suspendu : un contrôle médical est exigé avant sa restitution",
        ),
    ),
}


def _motif_is(motif: AnyMotif) -> Callable[[Situation], bool]:
    return lambda s: s.motif == motif


def _motif_rules() -> list[Rule]:
    return [
        Rule(f"motif:{motif.value}:{kind.value}", kind, _motif_is(motif), reason)
        for motif, documents in MOTIF_DOCUMENTS.items()
        for kind, reason in documents
    ]


RULES: tuple[Rule, ...] = (
    Rule(
        "always:identity",
        DocumentKind.IDENTITY_PROOF,
        lambda s: True,
        "exigé dans tous les cas (pièce d'identité recevable à l'examen)",
    ),
    Rule(
        "always:address",
        DocumentKind.PROOF_OF_ADDRESS,
        lambda s: True,
        "exigé dans tous les cas (justificatif de moins de 6 mois)",
    ),
    Rule(
        "national_service:census",
        DocumentKind.CENSUS_CERTIFICATE,
        lambda s: s.french and 16 <= s.age < 18,
        "vous êtes de nationalité française et avez entre 16 et 18 ans (recensement)",
    ),
    Rule(
        "national_service:jdc",
        DocumentKind.JDC_CERTIFICATE,
        lambda s: s.french and 18 <= s.age < 25,
        "vous êtes de nationalité française et avez entre 18 et 25 ans "
        "(journée défense et citoyenneté)",
    ),
    Rule(
        "residence:non_eea",
        DocumentKind.RESIDENCE_PERMIT,
        lambda s: s.applicant.nationality not in EEA_NATIONALITIES,
        "vous n'êtes pas ressortissant de l'Union européenne, de l'Espace économique européen "
        "ni de la Suisse : justificatif de la régularité du séjour et de la résidence normale",
    ),
    Rule(
        "representative:minor",
        DocumentKind.LEGAL_REPRESENTATIVE_ID,
        lambda s: s.age < 18,
        "vous êtes mineur(e) : pièce d'identité de votre représentant légal",
    ),
    Rule(
        "representative:guardianship",
        DocumentKind.LEGAL_REPRESENTATIVE_ID,
        lambda s: s.applicant.under_guardianship,
        "vous êtes sous tutelle : pièce d'identité de votre représentant légal",
    ),
    *_motif_rules(),
    Rule(
        "medical:heavy_category",
        DocumentKind.MEDICAL_OPINION,
        lambda s: s.category in MEDICAL_CATEGORIES and s.motif not in REISSUE_MOTIFS,
        "la catégorie {category} (poids lourd ou transport en commun) exige un avis médical",
    ),
    Rule(
        "medical:heavy_renewal",
        DocumentKind.MEDICAL_OPINION,
        lambda s: s.category in MEDICAL_CATEGORIES and s.motif is TitleMotif.END_OF_VALIDITY,
        "le renouvellement d'un permis de catégorie {category} en fin de validité "
        "exige un avis médical",
    ),
    Rule(
        "medical:declared_condition",
        DocumentKind.MEDICAL_OPINION,
        lambda s: s.applicant.medical_condition_declared,
        "vous avez déclaré une affection médicale pouvant avoir une incidence sur la conduite",
    ),
    Rule(
        "training:am",
        DocumentKind.TRAINING_CERTIFICATE,
        lambda s: s.category in TRAINING_CATEGORIES and s.motif in EXAM_MOTIFS,
        "la catégorie AM s'obtient par une formation (attestation de suivi de formation AM)",
    ),
    Rule(
        "training:a2_progression",
        DocumentKind.TRAINING_CERTIFICATE,
        lambda s: s.applicant.a2_progression,
        "vous accédez à la catégorie A après deux ans de A2 : attestation de la formation "
        "de 7 heures",
    ),
    Rule(
        "training:b96",
        DocumentKind.TRAINING_CERTIFICATE,
        lambda s: s.applicant.b96_training,
        "vous demandez la mention B96 : attestation de la formation de 7 heures",
    ),
    Rule(
        "training:code78_removal",
        DocumentKind.TRAINING_CERTIFICATE,
        lambda s: s.applicant.code78_removal,
        "vous demandez la levée du code 78 (boîte automatique) : attestation de la formation "
        "de 7 heures",
    ),
    Rule(
        "assr:first_title",
        DocumentKind.ASSR2_OR_ASR,
        lambda s: (
            s.motif is TitleMotif.EXAM_SUCCESS_FIRST_TITLE
            and s.applicant.birth_date >= ASSR_BORN_FROM
        ),
        "vous êtes né(e) à compter du 1er janvier 1988 et demandez votre premier titre",
    ),
)


def explain(applicant: Applicant, on: date) -> list[Requirement]:
    """Every required document with its label and reasons, in a stable order, once each."""
    situation = Situation(applicant, on, age_on(applicant.birth_date, on))
    fields = situation.fields()
    reasons: dict[DocumentKind, list[str]] = {}
    codes: dict[DocumentKind, list[str]] = {}
    for rule in RULES:
        if rule.when(situation):
            reasons.setdefault(rule.kind, []).append(rule.reason.format_map(fields))
            codes.setdefault(rule.kind, []).append(rule.code)
    return [
        Requirement(kind, DOCUMENT_LABELS[kind], tuple(texts), tuple(codes[kind]))
        for kind, texts in reasons.items()
    ]


def required_documents(applicant: Applicant, on: date) -> list[DocumentKind]:
    """The supporting documents this applicant must upload, in a stable order."""
    return [requirement.kind for requirement in explain(applicant, on)]


def missing_documents(
    applicant: Applicant, on: date, provided: set[DocumentKind]
) -> list[DocumentKind]:
    return [kind for kind in required_documents(applicant, on) if kind not in provided]
