"""stay changes in the credit ledger, ordered photos with a cover and room photos, a
facility's postal code

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 06:01:19.866982

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

KINDS_BEFORE = "kind IN ('grant', 'spend', 'refund', 'carry_over', 'expiry', 'overage')"
KINDS_AFTER = "kind IN ('grant', 'spend', 'refund', 'carry_over', 'expiry', 'overage', 'change')"
SIGN_BEFORE = (
    "(kind IN ('grant', 'refund', 'overage') AND amount > 0)"
    " OR (kind IN ('spend', 'expiry') AND amount < 0) OR kind = 'carry_over'"
)
SIGN_AFTER = SIGN_BEFORE + " OR (kind = 'change' AND amount <> 0)"
ONCE = sa.text("kind IN ('spend', 'refund')")


def upgrade():
    # A changed stay adds a 'change' entry each time; spend and refund stay once per stay.
    with op.batch_alter_table('credit_entry', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_credit_entry_booking_id_kind'), type_='unique')
        batch_op.drop_constraint(batch_op.f('ck_credit_entry_kind_known'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_credit_entry_amount_sign'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_credit_entry_kind_known'), KINDS_AFTER)
        batch_op.create_check_constraint(batch_op.f('ck_credit_entry_amount_sign'), SIGN_AFTER)
        batch_op.create_index('uq_credit_entry_booking_once', ['booking_id', 'kind'], unique=True, sqlite_where=ONCE, postgresql_where=ONCE)

    with op.batch_alter_table('facility', schema=None) as batch_op:
        batch_op.add_column(sa.Column('postal_code', sa.String(length=7), nullable=False, server_default=''))

    with op.batch_alter_table('facility_photo', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('is_cover', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('unit_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('widths', sa.String(length=40), nullable=False, server_default=''))
        batch_op.create_index('uq_facility_photo_one_cover', ['facility_id'], unique=True, sqlite_where=sa.text('is_cover'), postgresql_where=sa.text('is_cover'))
        batch_op.create_foreign_key(batch_op.f('fk_facility_photo_unit_id_unit'), 'unit', ['unit_id'], ['id'], ondelete='SET NULL')
    # Photos uploaded before keep their upload order.
    op.execute("UPDATE facility_photo SET position = id")


def downgrade():
    with op.batch_alter_table('facility_photo', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_facility_photo_unit_id_unit'), type_='foreignkey')
        batch_op.drop_index('uq_facility_photo_one_cover', sqlite_where=sa.text('is_cover'), postgresql_where=sa.text('is_cover'))
        batch_op.drop_column('widths')
        batch_op.drop_column('unit_id')
        batch_op.drop_column('is_cover')
        batch_op.drop_column('position')

    with op.batch_alter_table('facility', schema=None) as batch_op:
        batch_op.drop_column('postal_code')

    # (The old check refuses 'change' entries: downgrading fails while any exist.)
    with op.batch_alter_table('credit_entry', schema=None) as batch_op:
        batch_op.drop_index('uq_credit_entry_booking_once', sqlite_where=ONCE, postgresql_where=ONCE)
        batch_op.drop_constraint(batch_op.f('ck_credit_entry_amount_sign'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_credit_entry_kind_known'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_credit_entry_kind_known'), KINDS_BEFORE)
        batch_op.create_check_constraint(batch_op.f('ck_credit_entry_amount_sign'), SIGN_BEFORE)
        batch_op.create_unique_constraint(batch_op.f('uq_credit_entry_booking_id_kind'), ['booking_id', 'kind'])
