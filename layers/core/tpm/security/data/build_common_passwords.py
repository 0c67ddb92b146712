"""Builds common-passwords.txt from well-known patterns, offline and deterministically.

    python layers/core/tpm/security/data/build_common_passwords.py \
        > layers/core/tpm/security/data/common-passwords.txt

Not shipped (this folder is not a package). See README.md for what the list covers.
"""

from __future__ import annotations

import itertools
import string
import sys

CLASSIC = """
123456 password 12345678 qwerty 123456789 12345 1234 111111 1234567 dragon 123123 baseball
abc123 football monkey letmein 696969 shadow master 666666 qwertyuiop 123321 mustang
1234567890 michael 654321 superman 1qaz2wsx 7777777 121212 000000 qazwsx 123qwe killer
trustno1 jordan jennifer zxcvbnm asdfgh hunter buster soccer harley batman andrew tigger
sunshine iloveyou 2000 charlie robert thomas hockey ranger daniel starwars klaster 112233
george computer michelle jessica pepper 1111 zxcvbn 555555 11111111 131313 freedom 777777
pass maggie 159753 aaaaaa ginger princess joshua cheese amanda summer love ashley nicole
chelsea biteme matthew access yankees 987654321 dallas austin thunder taylor matrix
mobilemail mom monitor monitoring montana moon moscow welcome welcome1 admin admin123
administrator root toor guest changeme default secret passw0rd p@ssword p@ssw0rd pa55word
password1 password12 password123 password1234 password12345 password123456 passwordpassword
qwerty123 qwerty1234 qwerty12345 qwertyuiop123 1q2w3e4r 1q2w3e4r5t 1q2w3e4r5t6y 1q2w3e
q1w2e3r4 q1w2e3r4t5 zaq12wsx zaq1zaq1 !qaz2wsx 1qaz@wsx !qaz@wsx 1qazxsw2 2wsx3edc
qazwsxedc qazwsxedcrfv 1qaz2wsx3edc 1qaz2wsx3edc4rfv asdfghjkl asdfasdf asdf1234 zxcvbnm123
iloveyou1 iloveyou2 iloveyou123 iloveu loveyou lovely lovelove letmein1 letmein123 letmeinnow
whatever whatever1 trustno1 starwars1 dragon1 monkey1 football1 baseball1 princess1 sunshine1
superman1 batman1 shadow1 master1 michael1 jordan23 jordan1 hello hello1 hello123 hellohello
abcdef abcdefg abcdefgh abcd1234 abc12345 abcabc aaaaaaaa a1b2c3 a1b2c3d4 a1s2d3f4
qwe123 qweqwe qweasd qweasdzxc asd123 asdasd zxc123 zxczxc 123abc 123qweasd 123qweasdzxc
1234qwer qwer1234 1234abcd abcd123 pass123 pass1234 pass12345 mypassword mypass secret123
test test123 test1234 testing testtest demo user user123 login login123 temp temp123
111222 112233445566 123654 123789 147258 147258369 159357 159753456 258456 741852963
789456 789456123 963852741 987654 9876543210 1122334455 1212121212 1234512345 12344321
00000000 0000000000 99999999 88888888 11223344 1231231234 123456123456 123456654321
sunshine123 princess123 monkey123 dragon123 football123 baseball123 superman123 master123
shadow123 michael123 charlie123 jessica123 ashley123 daniel123 freedom1 freedom123
blink182 ncc1701 thx1138 8675309 1234qwerasdf qwertyui qwertyu qwerty12 qwerty1 qwerty7
trustme iloveyou! password! password1! password123! welcome123 welcome1234 welcome! welcome2
letmein! changeme1 changeme123 default1 secret1 administrator1 admin1 admin1234 admin12345
rootroot adminadmin passpass password01 password00 password11 password99 pa$$word pa$$w0rd
p4ssw0rd p455w0rd passwerd passwort motdepasse contrasena senha parola salasana wachtwoord
"""

WORDS = """
password pass passwd letmein welcome admin login master secret dragon monkey shadow sunshine
princess football baseball basketball soccer hockey golf tennis superman batman spiderman
iloveyou love lovely loveme lover trustno1 freedom whatever qwerty hello hunter ranger killer
buster tigger pepper ginger maggie cheese summer winter spring autumn fall january february
march april may june july august september october november december monday tuesday
wednesday thursday friday saturday sunday michael jennifer jordan thomas robert daniel
matthew andrew joshua charlie george jessica ashley amanda nicole michelle taylor austin
dallas chelsea yankees mustang harley corvette ferrari porsche mercedes bmw toyota honda
ford chevy jeep computer internet windows apple google facebook samsung iphone android
mickey minnie snoopy garfield pokemon pikachu naruto starwars matrix gandalf hobbit
dolphin tiger lion eagle falcon panther jaguar wolf bear horse dog cat puppy kitty kitten
bunny butterfly flower rose lily daisy angel angels heaven jesus christ god faith hope
grace blessed family friends friend mother father mommy daddy baby babygirl babyboy
sweety sweetie sweetheart honey sugar cookie cupcake chocolate banana orange apple
cherry peaches strawberry pumpkin coffee pizza beer whiskey vodka money dollar cash
rich lucky luck happy smile sunny rainbow purple blue red green yellow black white pink
silver golden gold diamond crystal star stars moon sun sky ocean beach island paradise
america usa texas california florida london paris berlin canada england london
boston chicago newyork miami denver seattle phoenix atlanta detroit
thunder lightning storm fire ice snow rain water earth magic wizard warrior knight
king queen prince princess lady boss legend hero ninja samurai dragon phoenix
rockstar rocknroll music guitar piano drums metallica nirvana beatles eminem
justin justinbieber onedirection liverpool arsenal manchester chelsea barcelona
madrid juventus cowboys steelers lakers celtics bulls patriots packers raiders
redsox giants broncos eagles dodgers yankees
charlie buddy max bailey bella lucy molly daisy rocky duke sadie coco jack oliver
william james john david richard joseph christopher anthony mark donald steven paul
kevin brian edward ronald timothy jason jeffrey ryan jacob gary nicholas eric jonathan
stephen larry justin scott brandon benjamin samuel gregory frank alexander patrick
raymond jack dennis jerry tyler aaron jose henry adam douglas nathan peter zachary
kyle walter harold jeremy ethan carl keith roger gerald christian terry sean arthur
austin noah lawrence jesse joe bryan billy bruce albert willie gabriel logan alan
juan wayne roy ralph randy eugene vincent russell elijah louis bobby philip johnny
mary patricia linda barbara elizabeth susan margaret dorothy lisa nancy karen betty
helen sandra donna carol ruth sharon laura sarah kimberly deborah anna rebecca
virginia kathleen pamela martha debra amanda stephanie carolyn christine marie janet
catherine frances ann joyce diane alice julie heather teresa doris gloria evelyn
jean cheryl mildred katherine joan judith rose janice kelly judy christina kathy
theresa beverly denise tammy irene jane lori rachel marilyn andrea kathryn louise
sara anne jacqueline wanda bonnie julia ruby lois tina phyllis norma paula diana
annie lillian emily robin peggy crystal gladys rita dawn connie florence tracy edna
tiffany carmen rosa cindy grace wendy victoria edith kim sherry sylvia josephine
thelma shannon sheila ethel ellen elaine marjorie carrie charlotte monica esther
pauline emma juanita anita rhonda hazel amber eva debbie april leslie clara lucille
jamie joanne eleanor valerie danielle megan alicia suzanne michele gail bertha
darlene veronica jill erin geraldine lauren cathy joann lorraine lynn sally regina
erica beatrice dolores bernice audrey yvonne annette june samantha marion dana
stacy ana renee ida vivian roberta holly brittany melanie loretta yolanda jeanette
laurie katie kristen vanessa alma sue elsie beth jeanne
therapy therapist counseling counselor counsel clinic clinical clinician doctor nurse
patient health healthy medical medicine hospital practice mentalhealth wellness
psychology psychologist psychiatry psychiatrist mindful mindfulness healing recovery
session office manager billing reception frontdesk staff schedule calendar portal
company business service support helpdesk security network server database system
qwerty asdfgh zxcvbn football monkey
""".split()

SUFFIXES = [
    "",
    "1",
    "12",
    "123",
    "1234",
    "12345",
    "123456",
    "!",
    "1!",
    "12!",
    "123!",
    "01",
    "007",
    "11",
    "13",
    "21",
    "22",
    "23",
    "69",
    "77",
    "88",
    "99",
    "00",
    "2",
    "@123",
    "#1",
    "!!",
    "?",
    ".",
    "*",
    "1234!",
    "321",
    "2023",
    "2024",
    "2025",
]
YEARS = [str(y) for y in range(1950, 2031)]
SEASONS = ["spring", "summer", "autumn", "fall", "winter"]
MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
LEET = str.maketrans({"a": "@", "o": "0", "e": "3", "i": "1", "s": "$"})

out: set[str] = set()


def add(p: str) -> None:
    p = p.strip().lower()
    if p and not p.startswith("#") and len(p) <= 64:
        out.add(p)


for p in CLASSIC.split():
    add(p)
words = list(dict.fromkeys(WORDS))
for w in words:
    for s in SUFFIXES:
        add(w + s)
    add(w + w)
    add(w.translate(LEET))
    add(w.translate(LEET) + "1")
    add(w.translate(LEET) + "123")
    add(w.translate(LEET) + "!")
    add("i" + "love" + w)
    add("ilove" + w + "1")
    add("my" + w)
    add(w + "isthebest")
for w in [
    "password",
    "passw0rd",
    "p@ssword",
    "p@ssw0rd",
    "letmein",
    "welcome",
    "admin",
    "qwerty",
    "iloveyou",
    "changeme",
    "secret",
    "monkey",
    "dragon",
    "football",
    "login",
    "master",
    "sunshine",
    "princess",
    "abc",
    "test",
    "pass",
]:
    for n in range(0, 200):
        add(f"{w}{n}")
    for y in YEARS:
        add(w + y)
        add(w + y + "!")
        add(w + "@" + y)
        add(w + "_" + y)
    for n in range(0, 100):
        add(f"{w}{n:02d}!")
for s in SEASONS + MONTHS:
    for y in YEARS:
        for sep in ["", "!", "@", "#", "!!", "."]:
            add(s + y + sep)
        add(s + "@" + y)
        add(s + y[2:])
        add(s + y[2:] + "!")
# repeated characters / digits
for ch in string.ascii_lowercase + string.digits + "!@#$%*.":
    for n in range(4, 33):
        add(ch * n)
# numeric sequences with wrap, ascending and descending, lengths 4-20
digits = "0123456789" * 4
for start in range(10):
    for n in range(4, 21):
        seq = digits[start : start + n]
        add(seq)
        add(seq[::-1])
alpha = string.ascii_lowercase * 2
for start in range(26):
    for n in range(4, 27):
        seq = alpha[start : start + n]
        add(seq)
        add(seq[::-1])
# keyboard walks
rows = ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "!@#$%^&*()"]
for r in rows:
    for i in range(len(r)):
        for j in range(i + 4, len(r) + 1):
            walk = r[i:j]
            add(walk)
            add(walk[::-1])
            add(walk + walk)
            add(walk + "123")
            add(walk + "1")
            add(walk + "!")
cols = ["1qaz", "2wsx", "3edc", "4rfv", "5tgb", "6yhn", "7ujm", "8ik,", "9ol.", "0p;/"]
for i in range(len(cols)):
    for j in range(i + 1, len(cols) + 1):
        add("".join(cols[i:j]))
        add("".join(c[::-1] for c in cols[i:j]))
        add("".join(c.upper() if k % 2 else c for k, c in enumerate(cols[i:j])))
for a, b in itertools.product(
    [
        "1q2w3e4r5t6y7u8i9o0p",
        "q1w2e3r4t5y6u7i8o9p0",
        "1a2s3d4f5g6h7j8k9l",
        "a1s2d3f4g5h6j7k8l9",
        "zaq1xsw2cde3vfr4bgt5",
    ],
    range(6, 21, 2),
):
    add(a[:b])
# years, year pairs, date-like numbers
for y in YEARS:
    add(y)
    add(y + y)
    add("1234" + y)
    add(y + "1234")
for year in range(1950, 2031):
    for month in range(1, 13):
        add(f"{month:02d}{year}")
        add(f"{year}{month:02d}")
# doubled short digit patterns
for n in range(100, 1000):
    add(str(n) * 2)
    add(str(n) * 4)
for n in range(10, 100):
    add(str(n) * 3)
    add(str(n) * 4)
    add(str(n) * 6)

lines = sorted(out)
sys.stdout.write("\n".join(lines) + "\n")
print(len(lines), file=sys.stderr)
