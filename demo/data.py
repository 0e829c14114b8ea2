"""The demo network's places and people: forty-five facilities across Japan, hand-written,
and the guests of the stays whose register (宿泊者名簿) the demo fills in.

Kept apart from ``demo.seed`` (which builds the database from it) so each reads at once.
"""

from __future__ import annotations

from typing import NamedTuple

# The demo's authenticator key: the demo operators, company admins and platform admin
# sign in with a code from it (two-factor sign-in is required for their roles). Public,
# like the demo password: printed by seed-demo and in the README.
DEMO_TOTP_SECRET = "ENGAWADEMOTOTPKEYFORTHEREADME234"  # noqa: S105

AMENITIES = frozenset({"meeting", "parking", "kitchen", "onsen", "family"})

SATOYAMA = "satoyama"  # mountains and inland
UMIBE = "umibe"  # the coast
OPERATORS = {
    SATOYAMA: ("さとやま運営", "operator@satoyama.example", "小松 一郎"),
    UMIBE: ("うみべリゾート運営", "operator@umibe.example", "宮城 里奈"),
}


class Place(NamedTuple):
    pref: int  # JIS X 0401
    municipality: str
    address: str
    lat: float
    lon: float
    name_ja: str
    name_en: str
    kind: str
    operator: str
    price: int  # yen a night for a two-person room, tax included
    wifi: int  # Mbps
    desks: int
    has: str  # space-separated AMENITIES
    hours: tuple[str, str]  # check-in, check-out
    nights: tuple[int, int]  # min, max
    ja: str
    en: str
    # The lodging licence (facilities.licences); "" for the usual one: none for an
    # office, 簡易宿所 for a self-catering house, 旅館・ホテル otherwise.
    licence: str = ""


STAY, OFFICE, BOTH = "stay", "office", "both"
HOTEL, SIMPLE, MINPAKU, SPECIAL_ZONE = "hotel", "simple", "minpaku", "special_zone"
INN, DESK = ("15:00", "10:00"), ("10:00", "09:00")

# fmt: off
PLACES: tuple[Place, ...] = (
    # 北海道
    Place(1, "虻田郡ニセコ町", "字曽我 263-1", 42.8048, 140.6874,
           "ニセコ森の保養所", "Niseko Forest Retreat", STAY, SATOYAMA, 13_000,
           300, 6, "parking kitchen onsen family", INN, (2, 21),
           "羊蹄山を正面に望む白樺林の一軒家。冬はパウダースノー、夏は尻別川のラフティングの"
           "合間に仕事ができます。",
           "A house in a birch wood facing Mount Yotei: powder snow in winter, rafting on the"
           " Shiribetsu River between calls in summer."),
    Place(1, "富良野市", "北の峰町 14-31", 43.3296, 142.3573,
           "富良野ラベンダーハウス", "Furano Lavender House", STAY, SATOYAMA, 11_000,
           200, 4, "parking kitchen family", INN, (1, 30),
           "北の峰のふもと、ラベンダー畑まで車で10分。長期滞在向けの共用キッチンがあります。",
           "At the foot of Kitanomine, ten minutes by car from the lavender fields, with a shared"
           " kitchen for long stays."),
    Place(1, "函館市", "末広町 14-8", 41.7660, 140.7130,
           "函館港ワークベース", "Hakodate Harbour Work Base", BOTH, UMIBE, 9_500,
           500, 12, "meeting kitchen", INN, (1, 28),
           "赤レンガ倉庫群まで徒歩3分の旧商館を改装。朝市で朝食、仕事の後は函館山の夜景を。",
           "A converted merchant house three minutes from the red-brick warehouses: breakfast at"
           " the morning market, the Mount Hakodate night view after work."),
    # 東北
    Place(2, "十和田市", "奥瀬字栃久保 182", 40.5860, 141.0290,
           "奥入瀬渓流の保養所", "Oirase Stream Lodge", STAY, SATOYAMA, 12_000,
           100, 4, "parking kitchen onsen family", INN, (2, 14),
           "奥入瀬渓流の入口、焼山地区の温泉付き保養所。新緑と紅葉の季節は渓流沿いの散策路が"
           "目の前です。",
           "An onsen retreat at Yakeyama, where the Oirase Stream begins; the riverside trail"
           " starts at the door in the green and autumn seasons."),
    Place(4, "仙台市青葉区", "一番町 3-6-1", 38.2600, 140.8720,
           "仙台一番町サテライト", "Sendai Ichibancho Satellite", OFFICE, SATOYAMA, 7_000,
           1000, 30, "meeting", DESK, (1, 30),
           "一番町アーケードに面したビルの5階。仙台駅から地下鉄で2駅、東北出張の拠点に。",
           "Fifth floor above the Ichibancho arcade, two subway stops from Sendai Station: a base"
           " for trips around Tohoku."),
    Place(7, "会津若松市", "東山町大字湯本字川向 226", 37.4720, 139.9630,
           "会津東山の宿", "Aizu Higashiyama Inn", STAY, SATOYAMA, 10_500,
           100, 4, "parking onsen family", INN, (1, 14),
           "湯川沿いの東山温泉街にある元旅館。鶴ヶ城や七日町の蔵通りへも車で10分ほどです。",
           "A former ryokan in the Higashiyama hot-spring quarter on the Yukawa River, ten minutes"
           " by car from Tsuruga Castle and the Nanokamachi storehouses."),
    # 関東
    Place(13, "千代田区", "神田錦町 2-2-1", 35.6920, 139.7640,
           "神田ワークラウンジ", "Kanda Work Lounge", OFFICE, UMIBE, 8_000,
           1000, 40, "meeting", DESK, (1, 30),
           "神保町・大手町・竹橋の各駅から徒歩5分。集中ブースと会議室をそろえた都心の"
           "サテライトオフィスです。",
           "Five minutes on foot from Jimbocho, Otemachi and Takebashi stations: focus booths and"
           " meeting rooms in central Tokyo."),
    Place(13, "台東区", "谷中 2-9-14", 35.7222, 139.7665,
           "谷中 路地裏の宿", "Yanaka Back-Lane Inn", STAY, SATOYAMA, 18_000,
           300, 4, "kitchen family", INN, (1, 14),
           "谷中銀座の商店街から一本入った路地の木造宿。上野駅から歩いて15分、根津や千駄木の"
           "下町を歩く合間に仕事ができます。",
           "A wooden inn in a lane off the Yanaka Ginza shopping street, fifteen minutes' walk"
           " from Ueno Station: work between walks through old Nezu and Sendagi.", SIMPLE),
    Place(13, "西多摩郡奥多摩町", "氷川 1420", 35.8095, 139.0966,
           "奥多摩リバーサイドハウス", "Okutama Riverside House", STAY, SATOYAMA, 9_000,
           100, 5, "parking kitchen family", INN, (1, 21),
           "多摩川上流の渓谷に面した古民家。新宿から電車で2時間弱、都内とは思えない静けさです。",
           "An old farmhouse above the upper Tama gorge, under two hours by train from Shinjuku"
           " and as quiet as the mountains."),
    Place(14, "足柄下郡箱根町", "強羅 1300-261", 35.2486, 139.0517,
           "箱根強羅 湯けむり保養所", "Hakone Gora Onsen Retreat", STAY, SATOYAMA, 19_000,
           300, 6, "meeting parking onsen", INN, (1, 14),
           "強羅公園の上手にある源泉かけ流しの保養所。登山電車で箱根湯本へ下り、会議の後は"
           "湯船でひと息。",
           "A retreat with its own hot spring above Gora Park; the mountain railway runs down to"
           " Hakone-Yumoto, and the bath waits after meetings."),
    Place(14, "鎌倉市", "由比ガ浜 3-1-12", 35.3125, 139.5415,
           "鎌倉由比ガ浜コワーキングハウス", "Kamakura Yuigahama Cowork House", BOTH, UMIBE, 14_000,
           500, 10, "meeting kitchen family", INN, (1, 30),
           "由比ガ浜まで徒歩2分のコワーキング付きハウス。江ノ電で長谷の大仏や鶴岡八幡宮へ。",
           "A cowork house two minutes from Yuigahama beach, with the Enoden line to the Great"
           " Buddha at Hase and Tsurugaoka Hachimangu."),
    Place(12, "長生郡一宮町", "東浪見 7428", 35.3611, 140.3884,
           "一宮サーフワークス", "Ichinomiya Surf Works", BOTH, UMIBE, 9_000,
           300, 8, "parking kitchen family", INN, (1, 30),
           "五輪サーフィン会場となった釣ヶ崎海岸のそば。朝に波に乗り、日中はデスクで仕事を。",
           "Near Tsurigasaki Beach, the Olympic surfing venue: surf at dawn, work at a desk through"
           " the day."),
    Place(12, "南房総市", "白浜町白浜 2650", 34.9130, 139.8860,
           "南房総 白浜の海の家", "Minamiboso Shirahama Sea House", STAY, UMIBE, 20_000,
           200, 3, "parking kitchen family", ("16:00", "10:00"), (2, 14),
           "房総半島の南端、野島埼灯台まで歩いて10分の一軒家を丸ごと貸し切り。住宅宿泊事業の"
           "届出住宅のため、貸し出せる日数は年に180泊までです。",
           "A whole house at the southern tip of the Boso Peninsula, ten minutes' walk from"
           " Nojimazaki Lighthouse. As a registered private lodging house it may be let on at"
           " most 180 nights a year.", MINPAKU),
    Place(10, "吾妻郡草津町", "草津 118", 36.6225, 138.5962,
           "草津湯畑の宿", "Kusatsu Yubatake Lodge", STAY, SATOYAMA, 15_000,
           200, 4, "parking onsen", INN, (1, 14),
           "湯畑から歩いて5分、自家源泉の湯船がある保養所。湯もみを見た後は静かな和室で仕事を。",
           "Five minutes' walk from the Yubatake, with baths fed by its own spring; watch the"
           " yumomi paddling, then work in a quiet tatami room."),
    Place(9, "日光市", "中宮祠 2478", 36.7386, 139.4981,
           "中禅寺湖レイクハウス", "Lake Chuzenji House", STAY, SATOYAMA, 13_000,
           100, 4, "parking kitchen family", INN, (2, 14),
           "旧大使館別荘が並ぶ中禅寺湖畔の山荘。夏も涼しく、華厳の滝や戦場ヶ原へも車ですぐです。",
           "A lodge on Lake Chuzenji among the old embassy villas: cool even in August, a short"
           " drive from Kegon Falls and Senjogahara."),
    # 中部
    Place(20, "北佐久郡軽井沢町", "大字軽井沢 1323-21", 36.3552, 138.6370,
           "軽井沢ワークレジデンス", "Karuizawa Work Residence", BOTH, SATOYAMA, 17_000,
           1000, 16, "meeting parking kitchen family", ("15:00", "11:00"), (2, 30),
           "旧軽井沢の森に建つワークレジデンス。東京から新幹線で70分、会議室と個室ブースを"
           "そなえています。",
           "A work residence in the woods of Kyu-Karuizawa, 70 minutes from Tokyo by Shinkansen,"
           " with a meeting room and private booths."),
    Place(20, "北安曇郡白馬村", "北城 5090", 36.6980, 137.8530,
           "白馬山麓ロッジ", "Hakuba Foothills Lodge", STAY, SATOYAMA, 12_500,
           300, 6, "parking kitchen family", INN, (2, 30),
           "八方尾根のゲレンデまで歩けるロッジ。北アルプスを眺め、冬はスキー、夏は山歩きの"
           "合間に仕事ができます。",
           "A lodge within walking distance of the Happo-one slopes, the Northern Alps outside the"
           " window: ski or hike around the working day."),
    Place(20, "松本市", "中央 2-4-10", 36.2330, 137.9690,
           "松本城下ワークスペース", "Matsumoto Castle Town Workspace", OFFICE, SATOYAMA, 6_500,
           1000, 20, "meeting", DESK, (1, 30),
           "松本城と中町通りの間にある蔵造りのワークスペース。上高地や安曇野への出張にも便利です。",
           "A storehouse-style workspace between Matsumoto Castle and Nakamachi Street, handy for"
           " trips to Kamikochi and Azumino."),
    Place(19, "南都留郡富士河口湖町", "船津 4024", 35.5040, 138.7610,
           "河口湖 富士見の保養所", "Lake Kawaguchi Fuji View Retreat", STAY, SATOYAMA, 14_500,
           300, 6, "parking kitchen family", INN, (1, 21),
           "河口湖畔から富士山を仰ぐ保養所。湖岸のサイクリングロードまで歩いてすぐです。",
           "Mount Fuji rises straight above this retreat on Lake Kawaguchi; the lakeside cycling"
           " path is a few steps away."),
    Place(22, "熱海市", "東海岸町 5-30", 35.0955, 139.0770,
           "熱海オーシャンビュー保養所", "Atami Ocean View Retreat", STAY, UMIBE, 16_000,
           300, 6, "parking onsen", INN, (1, 14),
           "相模湾を見下ろす高台の温泉保養所。東京から新幹線で40分、湯上がりにそのまま"
           "オンライン会議へ。",
           "A hot-spring retreat on the hill above Sagami Bay, 40 minutes from Tokyo by"
           " Shinkansen: from the bath straight to the video call."),
    Place(15, "南魚沼郡湯沢町", "大字湯沢 2455", 36.9360, 138.8090,
           "越後湯沢 雪国ワークハウス", "Echigo-Yuzawa Snow Country Work House", BOTH, SATOYAMA,
           11_500, 500, 10, "meeting parking kitchen onsen family", INN, (2, 28),
           "『雪国』の舞台、越後湯沢駅から徒歩10分。温泉とコワーキングをそなえ、冬はゲレンデへ"
           "直行できます。",
           "Ten minutes' walk from Echigo-Yuzawa Station, the setting of Snow Country, with onsen"
           " baths, a coworking room and the ski slopes close by."),
    Place(17, "金沢市", "東山 1-26-9", 36.5725, 136.6660,
           "金沢ひがし茶屋町の町家", "Kanazawa Higashi Chaya Machiya", STAY, SATOYAMA, 15_000,
           300, 4, "kitchen", INN, (1, 21),
           "ひがし茶屋街の一角にある町家を一棟ごと改装。兼六園や近江町市場へも歩いて行けます。",
           "A whole machiya townhouse in the Higashi Chaya district, within walking distance of"
           " Kenroku-en and Omicho Market."),
    Place(21, "高山市", "上三之町 62", 36.1395, 137.2600,
           "飛騨高山 古い町並みの宿", "Hida-Takayama Old Town House", STAY, SATOYAMA, 12_000,
           200, 4, "kitchen family", INN, (1, 14),
           "古い町並みの通りに面した旧商家。朝市をめぐり、囲炉裏のある居間で仕事ができます。",
           "An old merchant house on the preserved Sanmachi street: browse the morning markets,"
           " then work beside the irori hearth."),
    # 近畿
    Place(26, "京都市左京区", "南禅寺福地町 34", 35.0110, 135.7940,
           "京都南禅寺 町家オフィス", "Kyoto Nanzenji Machiya Office", BOTH, SATOYAMA, 20_000,
           500, 8, "meeting kitchen", INN, (1, 14),
           "南禅寺の参道にほど近い京町家。哲学の道で朝を始め、坪庭に面した座敷で会議ができます。",
           "A Kyoto machiya near the approach to Nanzen-ji: start the day on the Philosopher's"
           " Path and meet in a tatami room facing the courtyard garden."),
    Place(26, "京都市東山区", "祇園町南側 570-120", 35.0025, 135.7765,
           "祇園 花見小路の町家", "Gion Hanamikoji Machiya", STAY, SATOYAMA, 24_000,
           300, 4, "kitchen", INN, (1, 14),
           "花見小路から一筋入った京町家の宿。八坂神社や建仁寺まで歩いて5分、朝の祇園を"
           "静かに歩けます。",
           "A Kyoto machiya inn one lane off Hanamikoji, five minutes' walk from Yasaka Shrine"
           " and Kennin-ji: Gion in the quiet of the early morning.", HOTEL),
    Place(26, "与謝郡伊根町", "字平田 593", 35.6750, 135.2880,
           "伊根 舟屋の宿", "Ine Funaya House", STAY, UMIBE, 16_000,
           100, 3, "parking kitchen", INN, (2, 14),
           "伊根湾に並ぶ舟屋を改装した宿。海の上に張り出した一階で波音を聞きながら過ごせます。",
           "A converted funaya boathouse on Ine Bay, where the ground floor sits right over the"
           " water."),
    Place(30, "西牟婁郡白浜町", "1698-3", 33.6780, 135.3480,
           "南紀白浜ワーケーションベース", "Nanki-Shirahama Workation Base", BOTH, UMIBE, 13_500,
           1000, 14, "meeting parking onsen family", INN, (1, 30),
           "白良浜を望むワーケーション拠点。南紀白浜空港から車で10分、仕事の後は崎の湯へ。",
           "A workation base overlooking Shirarahama beach, ten minutes from Nanki-Shirahama"
           " Airport; end the day in the seaside Sakinoyu bath."),
    Place(24, "志摩市", "阿児町神明 718", 34.3040, 136.8190,
           "英虞湾パールベイハウス", "Ago Bay Pearl House", STAY, UMIBE, 15_500,
           200, 4, "parking kitchen family", INN, (2, 21),
           "真珠いかだが浮かぶ英虞湾の入り江に建つ保養所。伊勢神宮へは車で40分ほどです。",
           "A retreat on an inlet of Ago Bay among the pearl rafts, about 40 minutes by car from"
           " Ise Grand Shrine."),
    Place(27, "大阪市北区", "中之島 3-2-4", 34.6925, 135.4920,
           "中之島リバーサイドオフィス", "Nakanoshima Riverside Office", OFFICE, UMIBE, 7_500,
           1000, 36, "meeting", DESK, (1, 30),
           "堂島川沿いのオフィスビル12階。淀屋橋駅から徒歩5分で、関西の顧客訪問の拠点に。",
           "Twelfth floor of an office tower on the Dojima River, five minutes from Yodoyabashi"
           " Station: a base for client visits around Kansai."),
    Place(27, "大阪市中央区", "南船場 3-4-26", 34.6770, 135.5010,
           "心斎橋 南船場ステイ", "Shinsaibashi Minamisemba Stay", STAY, UMIBE, 16_000,
           500, 6, "kitchen family", INN, (2, 30),
           "心斎橋駅から歩いて5分のアパートメント。国家戦略特区の外国人滞在施設として、2泊からの"
           "滞在を受け付けています。",
           "Apartments five minutes' walk from Shinsaibashi Station, let under the national"
           " strategic special zone scheme for stays of two nights or more.", SPECIAL_ZONE),
    # 中国
    Place(34, "尾道市", "土堂 2-10-5", 34.4095, 133.1985,
           "尾道 坂の上の家", "Onomichi Hilltop House", BOTH, UMIBE, 9_500,
           300, 8, "meeting kitchen", INN, (1, 28),
           "千光寺へ続く坂道の途中にある古民家。尾道水道を見下ろし、しまなみ海道へも出やすい"
           "立地です。",
           "An old house on the slope up to Senko-ji, looking over the Onomichi Channel, close to"
           " the start of the Shimanami Kaido cycle route."),
    Place(32, "松江市", "袖師町 1-5", 35.4625, 133.0530,
           "松江 宍道湖ワークハウス", "Matsue Lake Shinji Work House", BOTH, SATOYAMA, 9_000,
           300, 10, "meeting parking kitchen", INN, (1, 21),
           "宍道湖のほとりに建つワークハウス。夕日の名所まで歩いてすぐ、松江城へも車で5分です。",
           "A work house on the shore of Lake Shinji, a short walk from its famous sunset point"
           " and five minutes' drive from Matsue Castle."),
    Place(33, "倉敷市", "本町 5-8", 34.5955, 133.7720,
           "倉敷美観地区 蔵の家", "Kurashiki Storehouse Residence", STAY, SATOYAMA, 12_500,
           200, 4, "kitchen family", INN, (1, 14),
           "倉敷美観地区の白壁の蔵を改装した滞在施設。大原美術館まで徒歩3分です。",
           "A white-walled storehouse in the Bikan historical quarter, three minutes' walk from"
           " the Ohara Museum of Art."),
    # 四国
    Place(39, "高知市", "はりまや町 1-6-12", 33.5595, 133.5435,
           "高知はりまやサテライト", "Kochi Harimaya Satellite", OFFICE, UMIBE, 6_500,
           1000, 18, "meeting", DESK, (1, 30),
           "はりまや橋のすぐそばのサテライトオフィス。昼はひろめ市場でかつおのたたきを。",
           "A satellite office beside Harimaya Bridge; lunch on seared bonito at Hirome Market."),
    Place(39, "四万十市", "西土佐江川崎 2390", 33.1710, 132.7520,
           "四万十 清流の家", "Shimanto Clear Stream House", STAY, SATOYAMA, 8_500,
           100, 3, "parking kitchen family", INN, (2, 21),
           "日本最後の清流と呼ばれる四万十川のほとりの一軒家。沈下橋のそばで川遊びができます。",
           "A house on the Shimanto, called Japan's last clear river, with swimming spots by the"
           " low chinkabashi bridges."),
    Place(36, "名西郡神山町", "神領字北 233", 33.9680, 134.3510,
           "神山サテライトハウス", "Kamiyama Satellite House", BOTH, SATOYAMA, 8_000,
           1000, 12, "meeting parking kitchen family", INN, (1, 30),
           "町じゅうに光回線が通る神山の古民家。鮎喰川のせせらぎを聞きながら仕事ができます。",
           "A farmhouse in Kamiyama, the mountain town wired with fibre that drew satellite"
           " offices from Tokyo; work to the sound of the Akui River."),
    Place(38, "松山市", "道後湯之町 5-6", 33.8520, 132.7860,
           "道後温泉 はなれの宿", "Dogo Onsen Annex", STAY, SATOYAMA, 13_000,
           300, 4, "onsen", INN, (1, 14),
           "道後温泉本館まで徒歩2分のはなれ。松山城や市街へは路面電車で20分ほどです。",
           "An annex two minutes' walk from Dogo Onsen Honkan; the tram reaches Matsuyama Castle"
           " and downtown in about 20 minutes."),
    # 九州・沖縄
    Place(44, "別府市", "鉄輪上 1-8", 33.3170, 131.4770,
           "別府鉄輪 湯けむりワークハウス", "Beppu Kannawa Steam Work House", BOTH, UMIBE, 11_000,
           500, 10, "meeting parking kitchen onsen family", INN, (1, 30),
           "湯けむりが立ちのぼる鉄輪温泉のワークハウス。源泉の蒸気で調理する地獄蒸し窯を"
           "自由に使えます。",
           "A work house in steaming Kannawa, with a jigoku-mushi oven that cooks with hot-spring"
           " vapour for guests to use."),
    Place(44, "由布市", "湯布院町川上 1523-4", 33.2640, 131.3560,
           "由布院 森のはなれ", "Yufuin Forest Cottages", STAY, SATOYAMA, 18_000,
           200, 4, "parking onsen family", ("15:00", "11:00"), (1, 14),
           "由布岳のふもと、雑木林に囲まれた離れ形式の温泉宿。金鱗湖まで歩いて10分です。",
           "Onsen cottages in a grove at the foot of Mount Yufu, ten minutes' walk from Lake"
           " Kinrin."),
    Place(40, "福岡市中央区", "天神 3-4-7", 33.5905, 130.3990,
           "天神ワークハブ", "Tenjin Work Hub", OFFICE, UMIBE, 7_000,
           1000, 32, "meeting", DESK, (1, 30),
           "天神駅から徒歩4分、福岡空港から地下鉄で11分のサテライトオフィス。夜は中洲の屋台へ。",
           "Four minutes from Tenjin Station and eleven by subway from Fukuoka Airport; the Nakasu"
           " food stalls are a short walk away."),
    Place(40, "福岡市博多区", "上川端町 8-3", 33.5940, 130.4060,
           "博多 川端の宿", "Hakata Kawabata Inn", STAY, UMIBE, 14_000,
           500, 6, "family", INN, (1, 14),
           "川端通商店街と櫛田神社のそば。博多駅から地下鉄で5分、夜は中洲の屋台まで歩いて"
           "行けます。",
           "Beside the Kawabata arcade and Kushida Shrine, five minutes by subway from Hakata"
           " Station and a short walk from the Nakasu food stalls.", HOTEL),
    Place(43, "阿蘇市", "内牧 1120", 32.9740, 131.0560,
           "阿蘇 草原のワークロッジ", "Aso Grassland Work Lodge", STAY, SATOYAMA, 11_500,
           200, 6, "parking kitchen onsen family", INN, (2, 21),
           "阿蘇五岳を望むカルデラの中の内牧温泉。草千里や大観峰へのドライブの合間に"
           "仕事ができます。",
           "In the Uchinomaki hot-spring town inside the Aso caldera, facing the five peaks; drive"
           " to Kusasenri and Daikanbo between work blocks."),
    Place(47, "国頭郡恩納村", "字恩納 2550", 26.4975, 127.8540,
           "恩納村ブルーラグーンハウス", "Onna Blue Lagoon House", STAY, UMIBE, 17_500,
           300, 6, "parking kitchen family", ("15:00", "11:00"), (2, 30),
           "恩納村の海岸に建つリゾートハウス。サンゴ礁の海まで徒歩1分、夕日を眺めながら"
           "仕事ができます。",
           "A resort house on the Onna coast, a minute from the reef, with sunsets over the East"
           " China Sea from the desk."),
    Place(47, "那覇市", "久茂地 2-3-1", 26.2160, 127.6795,
           "那覇久茂地サテライト", "Naha Kumoji Satellite", OFFICE, UMIBE, 6_500,
           1000, 24, "meeting", DESK, (1, 30),
           "ゆいレール県庁前駅から徒歩3分。国際通りに近い那覇中心部のサテライトオフィスです。",
           "Three minutes from Kenchomae monorail station, near Kokusai-dori in central Naha."),
    Place(42, "長崎市", "南山手町 2-11", 32.7345, 129.8700,
           "長崎南山手 坂の洋館", "Nagasaki Minamiyamate Villa", BOTH, UMIBE, 10_500,
           300, 8, "meeting kitchen", INN, (1, 21),
           "グラバー園へ続く南山手の坂に建つ洋館。長崎港と稲佐山の夜景を眺められます。",
           "A Western-style house on the Minamiyamate slope below Glover Garden, looking across"
           " Nagasaki Harbour to Mount Inasa."),
)
# fmt: on

# Background employees who hold the existing bookings: 山田 太郎 <taro.yamada@acme.example>.
FAMILY_NAMES = (
    ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("田中", "tanaka"),
    ("伊藤", "ito"), ("渡辺", "watanabe"), ("山本", "yamamoto"), ("中村", "nakamura"),
    ("小林", "kobayashi"), ("加藤", "kato"), ("吉田", "yoshida"), ("山田", "yamada"),
    ("佐々木", "sasaki"), ("山口", "yamaguchi"), ("松本", "matsumoto"), ("井上", "inoue"),
    ("木村", "kimura"), ("林", "hayashi"), ("斎藤", "saito"), ("清水", "shimizu"),
    ("山崎", "yamazaki"), ("森", "mori"), ("池田", "ikeda"), ("橋本", "hashimoto"),
    ("阿部", "abe"), ("石川", "ishikawa"), ("前田", "maeda"), ("藤田", "fujita"),
    ("小川", "ogawa"), ("岡田", "okada"),
)  # fmt: skip
GIVEN_NAMES = (
    ("太郎", "taro"), ("花子", "hanako"), ("健太", "kenta"), ("美咲", "misaki"),
    ("翔太", "shota"), ("結衣", "yui"), ("大輔", "daisuke"), ("陽菜", "hina"),
    ("拓也", "takuya"), ("愛", "ai"), ("直樹", "naoki"), ("さくら", "sakura"),
    ("悠斗", "yuto"), ("七海", "nanami"), ("亮", "ryo"), ("彩", "aya"),
    ("誠", "makoto"), ("葵", "aoi"), ("蓮", "ren"), ("真由美", "mayumi"),
)  # fmt: skip


# Each region's quiet months (閑散期), set as the off-season of its demo facilities:
# winter away from the ski fields, the rainy season (梅雨), the typhoon months.
OFF_SEASON_MONTHS = {
    "hokkaido": (4, 11),
    "tohoku": (1, 2, 11),
    "kanto": (1, 2, 6),
    "chubu": (6, 11),
    "kinki": (1, 2, 6),
    "chugoku": (1, 2, 6),
    "shikoku": (1, 2, 6),
    "kyushu-okinawa": (6, 9),
}


# --- the guest register (宿泊者名簿) of the demo's stays ----------------------------------
# Where the bookers live (fictional addresses and numbers), and who travels with them.
HOMES = (
    ("東京都世田谷区桜新町2-14-3", "090-3412-7781"),
    ("神奈川県川崎市中原区小杉町1-403-1205", "080-5521-0934"),
    ("埼玉県さいたま市浦和区高砂3-8-1", "090-6630-2217"),
    ("東京都杉並区阿佐谷南1-22-7", "070-2284-5516"),
    ("千葉県船橋市本町4-5-12", "080-7713-4402"),
    ("東京都江東区豊洲5-6-20-3103", "090-1187-6625"),
)
# Given names of the family members who come along (the booker's family name first).
COMPANION_GIVEN_NAMES = ("花子", "健太", "美咲", "翔太", "結衣")
# Companions without an address in Japan: their nationality and passport (fictional).
FOREIGN_COMPANIONS = (
    {
        "name": "Emily Clark",
        "address": "1200 Alder Street, Apt 5, Portland, OR 97205, United States",
        "phone": "+1 503-555-0142",
        "nationality": "US",
        "passport_number": "560012345",
    },
    {
        "name": "Lucas Martin",
        "address": "18 rue des Lilas, 69003 Lyon, France",
        "phone": "+33 6 12 34 56 78",
        "nationality": "FR",
        "passport_number": "19AB12345",
    },
    {
        "name": "Chloe Wilson",
        "address": "42 Harbour Road, Manly NSW 2095, Australia",
        "phone": "+61 412 345 678",
        "nationality": "AU",
        "passport_number": "PA1234567",
    },
)
