"""The demo network's regions (issue 20): two municipalities and a local association
that publish programmes over the coming months (some with few seats), local shops that
take coupons, the coupons a village and a company fund, and a company's request for a
team programme with a region's proposal.

白馬村 (Hakuba, Nagano) clears snow with volunteers on winter Saturdays and guides
snowshoe walks; 神山町 (Kamiyama, Tokushima), the satellite-office town, runs a
workshop on its open issues; the Oirase nature association walks the stream in autumn.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from accounts import two_factor
from accounts.models import Company, OperatorKind, OperatorOrg, Role, User
from booking.models import Booking, BookingStatus
from core.db import TOKYO, tokyo_today
from core.extensions import db
from demo.data import DEMO_TOTP_SECRET
from facilities.models import Facility, Unit
from facilities.municipalities import by_code, facility_code
from regions import coupon_redeem, coupons
from regions.coupon_tokens import token_of
from regions.models import (
    CouponFund,
    LocalShop,
    MatchRequest,
    Programme,
    ProgrammeSession,
    ShopMember,
)

HAKUBA, KAMIYAMA, TOWADA = "204854", "363421", "022063"

# (key, name, kind, municipality code or None, operator's e-mail, operator's name)
REGION_ORGS = (
    ("hakuba", "白馬村役場 観光課", OperatorKind.MUNICIPALITY, HAKUBA,
     "region@hakuba.example", "丸山 優子"),
    ("kamiyama", "神山町役場 まちづくり推進課", OperatorKind.MUNICIPALITY, KAMIYAMA,
     "region@kamiyama.example", "大南 翔太"),
    ("oirase", "一般社団法人 奥入瀬ネイチャーガイド協会", OperatorKind.ASSOCIATION, None,
     "guide@oirase.example", "佐々木 春香"),
)  # fmt: skip

# (shop's e-mail, name, category, postal code, address, municipality)
SHOPS = (
    ("cafe@hakuba.example", "白馬ベーカリーカフェ", "cafe", "3999301",
     "長野県北安曇郡白馬村北城 5080", HAKUBA),
    ("onsen@hakuba.example", "八方の湯", "onsen", "3999301",
     "長野県北安曇郡白馬村北城 5268", HAKUBA),
    ("market@hakuba.example", "白馬の恵み直売所", "shop", "3999301",
     "長野県北安曇郡白馬村北城 6300", HAKUBA),
    ("shokudo@kamiyama.example", "かま屋食堂", "restaurant", "7713310",
     "徳島県名西郡神山町神領字北 280", KAMIYAMA),
)  # fmt: skip


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TOKYO)


def _saturdays(first: date, last: date, months: set[int], count: int) -> list[date]:
    day = first + timedelta(days=(5 - first.weekday()) % 7)
    found: list[date] = []
    while day <= last and len(found) < count:
        if day.month in months:
            found.append(day)
        day += timedelta(days=7)
    return found


def _programme(org: OperatorOrg, code: str, now: datetime, **fields) -> Programme:
    place = by_code(code)
    programme = Programme(
        operator=org,
        municipality_code=code,
        prefecture=place.prefecture if place else int(code[:2]),
        published_at=now - timedelta(days=20),
        created_at=now - timedelta(days=30),
        updated_at=now - timedelta(days=20),
        **fields,
    )
    db.session.add(programme)
    return programme


def _sessions(programme: Programme, days: list[date], hours: tuple[int, int]) -> None:
    for day in days:
        db.session.add(
            ProgrammeSession(
                programme=programme,
                starts_at=_at(day, hours[0]),
                ends_at=_at(day, hours[1]),
                capacity=programme.capacity,
            )
        )


def seed_regions(
    now: datetime, companies: dict[str, Company], password_hash: str, since: datetime
) -> list[User]:
    """Add the regions' organisations, people, programmes, shops and funds; flushes.
    Returns the people added (the regions' operators and the shops' staff)."""
    today = tokyo_today(now)
    orgs: dict[str, OperatorOrg] = {}
    people: list[User] = []
    for key, name, kind, code, email, person in REGION_ORGS:
        org = OperatorOrg(name=name, kind=kind, municipality_code=code, created_at=since)
        operator = User(
            email=email, name=person, role=Role.OPERATOR, operator=org,
            password_hash=password_hash, created_at=since,
        )  # fmt: skip
        two_factor.enrol_with_secret(operator, DEMO_TOTP_SECRET, since)
        db.session.add_all([org, operator])
        orgs[key] = org
        people.append(operator)
    companies["acme"].industry = "G"  # 情報通信業
    companies["acme"].programmes_on_credit = True
    companies["globex"].industry = "E"  # 製造業

    horizon = today + timedelta(days=180)
    winter = {12, 1, 2, 3}
    snow = _programme(
        orgs["hakuba"], HAKUBA, now, kind="local_work",
        title_ja="雪かきボランティア（白馬村の高齢者世帯）",
        title_en="Snow-clearing volunteers for Hakuba's older households",
        description_ja=(
            "大雪のあと、ひとり暮らしの高齢者のお宅の屋根や玄関先の雪をかきます。スコップ、"
            "長靴、手袋は役場で貸し出します。終わったら公民館で豚汁をどうぞ。"
        ),
        description_en=(
            "After heavy snow, clear the roofs and doorways of older people living alone."
            " Shovels, boots and gloves are lent by the village office; pork miso soup at the"
            " community hall afterwards."
        ),
        meeting_point="白馬村役場 正面玄関（北城 7025）", latitude=36.6982, longitude=137.8619,
        capacity=8, min_participants=3, price_kind="free", price=0, language="ja",
        stay_required=True,
    )  # fmt: skip
    _sessions(snow, _saturdays(today + timedelta(days=1), horizon, winter, 12), (9, 12))
    snowshoe = _programme(
        orgs["hakuba"], HAKUBA, now, kind="tour",
        title_ja="スノーシュー・ガイドツアー 岩岳の森",
        title_en="Guided snowshoe walk in the Iwatake woods",
        description_ja="地元ガイドと岩岳の森を歩きます。スノーシューは貸し出します。",
        description_en="Walk the Iwatake woods with a local guide; snowshoes are provided.",
        meeting_point="岩岳ゲレンデ ゴンドラ乗り場", latitude=36.7206, longitude=137.8534,
        capacity=4, min_participants=2, price_kind="local", price=3_500, language="ja_en",
        stay_required=False,
    )  # fmt: skip
    _sessions(snowshoe, _saturdays(today + timedelta(days=2), horizon, winter, 8), (13, 16))
    workshop = _programme(
        orgs["kamiyama"], KAMIYAMA, now, kind="skills",
        title_ja="神山の課題を見える化するワークショップ（プロボノ）",
        title_en="Making Kamiyama's open issues visible: a pro-bono workshop",
        description_ja=(
            "町の担当者と一緒に、空き家、移動、農業の担い手の課題を整理し、あなたの仕事の"
            "スキルで手伝えることを探します。"
        ),
        description_en=(
            "With the town's staff, map the issues of empty houses, transport and farming"
            " hands, and find where the skills of your job can help."
        ),
        meeting_point="神山バレー・サテライトオフィス・コンプレックス", latitude=33.9676,
        longitude=134.3525, capacity=4, min_participants=2, price_kind="credit", price=2_000,
        language="ja", stay_required=True,
    )  # fmt: skip
    _sessions(
        workshop,
        [today + timedelta(days=d) for d in (10, 24, 38, 52, 66, 80)],
        (14, 17),
    )
    stream = _programme(
        orgs["oirase"], TOWADA, now, kind="experience",
        title_ja="奥入瀬渓流 苔さんぽ", title_en="Moss walk along the Oirase stream",
        description_ja="ルーペを手に、渓流沿いの苔と森を観察します。",
        description_en="Look at the moss and forest of the stream through a loupe.",
        meeting_point="石ヶ戸休憩所", latitude=40.5660, longitude=140.9880,
        capacity=12, min_participants=3, price_kind="free", price=0, language="ja",
        stay_required=False,
    )  # fmt: skip
    _sessions(stream, [today + timedelta(days=d) for d in (14, 45, 75, 105, 135)], (10, 12))

    for email, name, category, postal, address, code in SHOPS:
        shop = LocalShop(
            name=name, category=category, postal_code=postal, address=address,
            municipality_code=code, created_at=since,
        )  # fmt: skip
        staff = User(
            email=email, name=f"{name} 店長", role=Role.SHOP, password_hash=password_hash,
            created_at=since,
        )  # fmt: skip
        db.session.add_all([shop, staff])
        people.append(staff)
        db.session.add(ShopMember(user=staff, shop=shop))

    db.session.flush()
    season_end = date(today.year + (1 if today.month > 3 else 0), 3, 31)
    opened = today - timedelta(days=60)
    db.session.add_all(
        [
            CouponFund(
                operator_id=orgs["hakuba"].id, name="白馬村 冬の地域クーポン",
                municipality_code=HAKUBA, yen_per_guest_night=1_000, starts_on=opened,
                ends_on=season_end, budget=2_000_000, created_at=since,
            ),
            CouponFund(
                operator_id=orgs["kamiyama"].id, name="神山町 ワーケーション応援クーポン",
                municipality_code=KAMIYAMA, yen_per_guest_night=500, starts_on=opened,
                ends_on=today + timedelta(days=365), budget=500_000, created_at=since,
            ),
            CouponFund(
                company_id=companies["acme"].id, name="Acme 福利厚生 地域応援",
                municipality_code=HAKUBA, yen_per_guest_night=500, starts_on=opened,
                ends_on=today + timedelta(days=365), budget=300_000, created_at=since,
            ),
        ]
    )  # fmt: skip
    admin = db.session.scalar(
        select(User).where(User.company_id == companies["acme"].id, User.role == Role.COMPANY_ADMIN)
    )
    db.session.add(
        MatchRequest(
            company_id=companies["acme"].id, created_by_id=admin.id,
            title="開発チーム6人の合宿（温泉の近く、地域の仕事も体験したい）",
            description=(
                "2泊3日、開発チーム6人で合宿をしたいです。温泉の近くで、地域の方と一緒に"
                "取り組めるプログラムがあると嬉しいです。"
            ),
            people=6, nights=2, earliest=today + timedelta(days=60),
            latest=today + timedelta(days=90), prefecture=20, programme_kind="local_work",
            wants_onsen=True, budget=300_000, created_at=now - timedelta(days=3),
        )
    )  # fmt: skip
    db.session.flush()
    return people


def seed_coupons(now: datetime, rng: random.Random) -> dict[str, int]:
    """Give the demo's stays in funded municipalities their local coupons, as the
    ``issue_coupons`` job would, and let the guests of stays already over have spent most
    of theirs at the shops of the town during their stay (the region report's local
    spend); the rest of those expired. Flushes."""
    today = tokyo_today(now)
    shops: dict[str, list[LocalShop]] = {}
    for shop in db.session.scalars(select(LocalShop).order_by(LocalShop.id)):
        shops.setdefault(shop.municipality_code, []).append(shop)
    staff = {m.shop_id: m.user_id for m in db.session.scalars(select(ShopMember))}
    stays = db.session.scalars(
        select(Booking)
        .join(Unit, Unit.id == Booking.unit_id)
        .join(Facility, Facility.id == Unit.facility_id)
        .where(
            Booking.status == BookingStatus.CONFIRMED,
            Facility.prefecture.in_([int(code[:2]) for code in shops]),
        )
        .options(selectinload(Booking.unit).selectinload(Unit.facility))
        .order_by(Booking.id)
    ).all()
    issued = redeemed = 0
    for stay in stays:
        code = facility_code(stay.unit.facility)
        if code not in shops:
            continue
        made = coupons.issue_for_stay(
            booking_id=stay.id, user_id=stay.user_id, company_id=stay.company_id,
            municipality_code=code, check_in=stay.check_in, check_out=stay.check_out,
            guests=stay.guests, now=_at(stay.check_in, 9) if stay.check_in < today else now,
        )  # fmt: skip
        issued += len(made)
        if stay.check_out > today:
            continue
        for coupon in made:
            if rng.random() < 0.25:
                continue  # not spent: it expires below
            spent_on = stay.check_in + timedelta(
                days=rng.randrange((stay.check_out - stay.check_in).days + 1)
            )
            shop = rng.choice(shops[code])
            coupon_redeem.redeem(
                token_of(coupon), shop, staff[shop.id], _at(spent_on, rng.randrange(10, 19))
            )
            redeemed += 1
    coupons.expire_due(now)
    db.session.flush()
    return {"issued": issued, "redeemed": redeemed}
