"""The key-encryption key: sealing binds a value to its row, a ring opens with any of its keys and seals with
the first, the key's text is never echoed, and a key file is made owner-only and refused when others may read it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sessionward.crypto.kek import Kek, KekError, KekRing, derive_key, kek_id_of, keyed_digest, parse_keks
from sessionward.crypto.kek_source import KekSource, kek_location, read_kek_file, write_kek_file


def test_a_sealed_value_opens_only_for_its_own_row_and_key() -> None:
    key = Kek.generate()
    ring = KekRing((key,))
    sealed = ring.seal(b"secret bytes", "signing_key:a")
    assert sealed.startswith(f"swk1:{key.kek_id}:") and "secret" not in sealed
    assert ring.open(sealed, "signing_key:a") == b"secret bytes"
    assert ring.seal(b"secret bytes", "signing_key:a") != sealed  # a fresh nonce every time
    with pytest.raises(KekError, match="altered or moved"):
        ring.open(sealed, "signing_key:b")
    with pytest.raises(KekError, match="not configured"):
        KekRing((Kek.generate(),)).open(sealed, "signing_key:a")
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(KekError):
        ring.open(flipped, "signing_key:a")
    with pytest.raises(KekError, match="not encrypted"):
        ring.open("JBSWY3DPEHPK3PXP", "totp_secret:u")


def test_a_ring_seals_with_its_first_key_and_opens_with_any() -> None:
    old, new = Kek.generate(), Kek.generate()
    by_old = KekRing((old,)).seal(b"x", "p")
    both = KekRing((new, old))
    assert both.open(by_old, "p") == b"x"
    assert kek_id_of(both.seal(b"x", "p")) == new.kek_id
    assert both.ids == (new.kek_id, old.kek_id)
    assert kek_id_of("not sealed") is None


def test_key_text_round_trips_and_bad_text_is_refused_without_being_echoed() -> None:
    key = Kek.generate()
    assert parse_keks(f"# comment\n{key.text}\n", "storage.kek") == (key,)
    other = Kek.generate()
    assert parse_keks(f"{other.text}, {key.text}", "storage.kek") == (other, key)
    for bad in ("", "# only a comment", "hunter2hunter2", key.text[:-1], key.text + "A"):
        with pytest.raises(KekError) as caught:
            parse_keks(bad, "storage.kek")
        assert caught.value.key == "storage.kek"
        assert not bad or bad not in str(caught.value)
    assert key.text not in repr(key) and key.text not in repr(KekRing((key,)))


def test_derived_keys_and_digests_are_separate_per_purpose_and_secret() -> None:
    secret = os.urandom(32)
    audit, names = derive_key(secret, "audit chain"), derive_key(secret, "typed identifiers")
    assert audit != names and len(audit) == 32
    assert derive_key(secret, "audit chain") == audit
    assert keyed_digest(names, "alice") == keyed_digest(names, "alice")
    assert keyed_digest(names, "alice") != keyed_digest(derive_key(os.urandom(32), "typed identifiers"), "alice")
    assert len(keyed_digest(names, "alice")) == 32


def test_the_default_file_is_made_owner_only_once(tmp_path: Path) -> None:
    location = kek_location("", "", str(tmp_path / "data"))
    assert location.path == tmp_path / "data" / "kek"
    first = KekSource(location, create=True)
    assert (location.path.stat().st_mode & 0o777) == 0o600
    again = KekSource(location, create=True)  # an existing file is read, never replaced
    assert again.ring().ids == first.ring().ids
    assert not write_kek_file(location.path, (Kek.generate(),), exclusive=True)
    assert [p.name for p in location.path.parent.iterdir()] == ["kek"]  # no temporary file left behind


def test_a_file_others_may_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    write_kek_file(path, (Kek.generate(),))
    for mode in (0o640, 0o604, 0o660):
        path.chmod(mode)
        with pytest.raises(KekError, match=f"mode {mode:04o}") as caught:
            read_kek_file(path, "storage.kek_file")
        assert caught.value.key == "storage.kek_file"
    path.chmod(0o400)
    assert len(read_kek_file(path, "storage.kek_file")) == 1


def test_a_named_file_is_never_made_and_the_environment_wins(tmp_path: Path) -> None:
    named = kek_location("", str(tmp_path / "mounted"), str(tmp_path))
    with pytest.raises(KekError, match="no such file"):
        KekSource(named, create=True)
    assert not (tmp_path / "mounted").exists()
    key = Kek.generate()
    from_env = KekSource(kek_location(key.text, "", str(tmp_path)), create=True)
    assert from_env.ring().ids == (key.kek_id,)
    assert not (tmp_path / "kek").exists()


def test_reload_follows_the_file_and_keeps_the_keys_while_it_is_unreadable(tmp_path: Path) -> None:
    location = kek_location("", str(tmp_path / "kek"), str(tmp_path))
    old, new = Kek.generate(), Kek.generate()
    write_kek_file(tmp_path / "kek", (old,))
    source = KekSource(location)
    write_kek_file(tmp_path / "kek", (new, old))
    assert source.reload().ids == (new.kek_id, old.kek_id)
    (tmp_path / "kek").unlink()
    assert source.reload().ids == (new.kek_id, old.kek_id)


def test_the_kek_settings_are_redacted_and_exclusive() -> None:
    from sessionward.config import load_settings, redacted_toml
    from sessionward.errors import ConfigError

    key = Kek.generate().text
    settings = load_settings(environ={"SESSIONWARD_STORAGE__KEK": key})
    assert settings.storage.kek == key
    assert key not in redacted_toml(settings) and 'kek = "***"' in redacted_toml(settings)
    assert key not in repr(settings.storage) and key not in repr(settings)
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"SESSIONWARD_STORAGE__KEK": key, "SESSIONWARD_STORAGE__KEK_FILE": "/run/kek"})
    assert caught.value.key == "storage.kek" and key not in str(caught.value)
