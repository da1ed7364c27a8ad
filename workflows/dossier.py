"""From the workflow's ``RequestView`` to the protobuf messages the services read.

Activities call these just before a gRPC call; the workflow itself never touches
protobuf, so what goes into history stays the pydantic models.
"""

from __future__ import annotations

from permis.common.v1 import dossier_pb2
from permis.documents.v1 import documents_pb2
from workflows.models import RenderAttestation, RequestView, TitleMotifStep


def to_dossier(view: RequestView) -> dossier_pb2.Dossier:
    dossier = dossier_pb2.Dossier(
        request_number=view.request_number,
        journey=view.journey.value,
        account_id=view.account_id,
        photo_code=view.photo_code or "",
        submitted_at=view.submitted_at.isoformat() if view.submitted_at else "",
    )
    if view.motif is not None:
        dossier.motif = view.motif.motif.value
        dossier.category = view.motif.category.value
    # A title request carries the candidate's NEPH (given at its motif step); an
    # inscription has none until accepted.
    neph = view.neph or (view.motif.neph if isinstance(view.motif, TitleMotifStep) else "")
    if neph:
        dossier.neph = neph
    if view.civil_status is not None:
        civil = view.civil_status
        dossier.civil_status.CopyFrom(
            dossier_pb2.CivilStatus(
                family_name=civil.family_name,
                given_names=civil.given_names,
                birth_date=civil.birth_date.isoformat(),
                birth_place=civil.birth_place,
                birth_country=civil.birth_country,
                sex=civil.sex,
                nationality=civil.nationality,
            )
        )
    if view.address is not None:
        address = view.address
        dossier.address.CopyFrom(
            dossier_pb2.AddressContact(
                street=address.street,
                postal_code=address.postal_code,
                city=address.city,
                department=address.department,
                email=str(address.email),
                mobile_phone=address.mobile_phone,
            )
        )
    dossier.documents.extend(
        dossier_pb2.DocumentRef(
            document_id=document.document_id,
            kind=document.kind.value,
            content_type=document.content_type,
            sha256=document.sha256,
            size=document.size,
            issued_on=document.issued_on.isoformat() if document.issued_on else "",
        )
        for document in view.documents
    )
    return dossier


def to_attestation_request(request: RenderAttestation) -> documents_pb2.RenderAttestationRequest:
    view = request.view
    civil, address, motif = view.civil_status, view.address, view.motif
    return documents_pb2.RenderAttestationRequest(
        request_number=view.request_number,
        neph=request.neph,
        family_name=civil.family_name if civil else "",
        given_names=civil.given_names if civil else "",
        birth_date=civil.birth_date.isoformat() if civil else "",
        birth_place=civil.birth_place if civil else "",
        category=motif.category.value if motif else "",
        department=address.department if address else "",
        address_line=(f"{address.street}, {address.postal_code} {address.city}" if address else ""),
        decided_at=request.decided_at.isoformat(),
        owner_account_id=view.account_id,
    )


def _address_line(view: RequestView) -> str:
    address = view.address
    return f"{address.street}, {address.postal_code} {address.city}" if address else ""


def to_receipt_request(view: RequestView) -> documents_pb2.RenderReceiptRequest:
    """The récépissé de dépôt of a submitted (category B) inscription."""
    civil, address, motif = view.civil_status, view.address, view.motif
    return documents_pb2.RenderReceiptRequest(
        request_number=view.request_number,
        family_name=civil.family_name if civil else "",
        given_names=civil.given_names if civil else "",
        birth_date=civil.birth_date.isoformat() if civil else "",
        birth_place=civil.birth_place if civil else "",
        category=motif.category.value if motif else "",
        motif=motif.motif.value if motif else "",
        department=address.department if address else "",
        address_line=_address_line(view),
        submitted_at=view.submitted_at.isoformat() if view.submitted_at else "",
        owner_account_id=view.account_id,
    )
