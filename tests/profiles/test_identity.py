"""Identity resolution decisions, without a database."""

from omnicx.profiles import Identifier, IdentityFacts, IdentityRules, resolve

RULES = IdentityRules(
    kinds=("user_id", "email", "phone", "loyalty_id", "anonymous_id"),
    limits={"user_id": 1},
    blocked={"*": frozenset({"null", "anonymous"}), "email": frozenset({"loja@example.com"})},
)

U1 = Identifier("user_id", "u1")
U2 = Identifier("user_id", "u2")
A1 = Identifier("anonymous_id", "a1")
A2 = Identifier("anonymous_id", "a2")
E1 = Identifier("email", "ana@example.com")


def test_unknown_identifiers_create_one_profile() -> None:
    decision = resolve([A1, E1], IdentityFacts(owners={}), RULES)
    assert decision.creates_profile
    assert decision.attach == (E1, A1)
    assert decision.merges == ()


def test_known_identifier_brings_new_ones_to_its_profile() -> None:
    decision = resolve([U1, A1, E1], IdentityFacts(owners={A1: "p1"}), RULES)
    assert decision.target == "p1"
    assert decision.attach == (U1, E1)
    assert not decision.creates_profile


def test_identifier_shared_by_two_profiles_merges_them_into_the_older() -> None:
    facts = IdentityFacts(owners={E1: "p2", A1: "p1"})
    decision = resolve([A1, E1], facts, RULES)
    assert decision.target == "p1"
    assert [(m.survivor_id, m.loser_id, m.identifier, m.other) for m in decision.merges] == [
        ("p1", "p2", E1, A1)
    ]


def test_second_user_id_is_refused_and_recorded_as_conflict() -> None:
    # A shared device: u2 logs in on the browser u1 used; a1 stays with u1's profile.
    facts = IdentityFacts(owners={A1: "p1"}, limited_values={"p1": {"user_id": {"u1"}}})
    decision = resolve([U2, A1], facts, RULES)
    assert decision.creates_profile
    assert decision.attach == (U2,)
    assert [(c.other_profile_id, c.identifier, c.rule) for c in decision.conflicts] == [
        ("p1", A1, "limit:user_id")
    ]


def test_merge_of_two_identified_profiles_is_refused() -> None:
    facts = IdentityFacts(
        owners={U1: "p1", E1: "p2"},
        limited_values={"p1": {"user_id": {"u1"}}, "p2": {"user_id": {"u2"}}},
    )
    decision = resolve([U1, E1], facts, RULES)
    assert decision.target == "p1"
    assert decision.merges == ()
    assert [(c.profile_id, c.other_profile_id, c.rule) for c in decision.conflicts] == [
        ("p1", "p2", "limit:user_id")
    ]


def test_blocked_values_are_never_linked() -> None:
    shared = Identifier("email", "LOJA@example.com")
    decision = resolve(
        [A1, shared, Identifier("anonymous_id", "null")], IdentityFacts(owners={}), RULES
    )
    assert decision.attach == (A1,)
    assert set(decision.ignored) == {shared, Identifier("anonymous_id", "null")}


def test_only_blocked_identifiers_leave_the_event_unattributed() -> None:
    decision = resolve([Identifier("anonymous_id", "anonymous")], IdentityFacts(owners={}), RULES)
    assert decision.target is None
    assert not decision.creates_profile


def test_separated_profiles_are_not_merged_again() -> None:
    facts = IdentityFacts(owners={A1: "p1", E1: "p2"}, separated={frozenset({"p1", "p2"})})
    decision = resolve([A1, E1], facts, RULES)
    assert decision.target == "p2"
    assert decision.merges == ()
    assert [c.rule for c in decision.conflicts] == ["separated"]


def test_three_profiles_collapse_into_the_oldest() -> None:
    facts = IdentityFacts(owners={E1: "p3", A1: "p2", A2: "p1"})
    decision = resolve([E1, A1, A2], facts, RULES)
    assert decision.target == "p1"
    assert [(m.survivor_id, m.loser_id) for m in decision.merges] == [("p2", "p3"), ("p1", "p2")]


def test_a_profile_met_through_two_identifiers_is_merged_once() -> None:
    phone = Identifier("phone", "+5511912345678")
    facts = IdentityFacts(owners={U1: "p1", E1: "p2", phone: "p2"})
    for owners in (facts.owners, {U1: "p2", E1: "p1", phone: "p1"}):
        decision = resolve([U1, E1, phone], IdentityFacts(owners=owners), RULES)
        assert len(decision.merges) == 1
