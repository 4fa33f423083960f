//! Interoperability of `probekey::internals::noise` with the `snow` crate: the handshake
//! is real `Noise_KK_25519_ChaChaPoly_SHA256` (Noise rev. 34).
//!
//! Each test runs one side of the handshake with this crate and the other
//! with `snow`, in both roles, and checks the payloads, the handshake hash
//! and the split transport keys (a message sealed by one implementation
//! opens in the other). With fixed ephemeral keys both implementations must
//! produce byte-identical messages. The last test takes the Noise message
//! straight out of an initiation datagram written by a real
//! [`probekey::Endpoint`].

use core::error::Error;

use chacha20::ChaCha20Rng;
use probekey::internals::noise::{
    Direction, Initiator, MAX_PROLOGUE_LEN, NoiseError, PROTOCOL_NAME, Responder, StaticDh,
    TransportKeys, message_len, prologue,
};
use probekey::rand_core::SeedableRng;
use probekey::wire::{
    INITIATION_LEN, INITIATION_PAYLOAD_LEN, MAC1_OFFSET, TYPE_INITIATION, VERSION,
};
use probekey::{Config, Endpoint, Instant, PublicKey, StaticKeypair, TAG_LEN, TransmitKind};
use x25519_dalek::StaticSecret;

type TestResult = Result<(), Box<dyn Error>>;

const PATTERN: &str = "Noise_KK_25519_ChaChaPoly_SHA256";
const DEPLOYMENT_ID: &[u8] = b"interop-test";

/// The prologue an endpoint configured with `deployment_id` uses.
fn prologue_for(deployment_id: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; MAX_PROLOGUE_LEN];
    let len = prologue(VERSION, deployment_id, &mut buf);
    buf[..len].to_vec()
}

/// A `snow` handshake builder for KK with these keys and prologue.
fn snow_builder<'a>(
    local_secret: &'a [u8],
    remote_public: &'a [u8],
    prologue: &'a [u8],
) -> Result<snow::Builder<'a>, snow::Error> {
    snow::Builder::new(PATTERN.parse()?)
        .local_private_key(local_secret)?
        .remote_public_key(remote_public)?
        .prologue(prologue)
}

/// Deterministic key material for one run: two static key pairs and a
/// source of ephemeral keys.
struct Keys {
    initiator: StaticKeypair,
    responder: StaticKeypair,
    rng: ChaCha20Rng,
}

impl Keys {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let initiator = StaticKeypair::generate(&mut rng);
        let responder = StaticKeypair::generate(&mut rng);
        Keys {
            initiator,
            responder,
            rng,
        }
    }

    fn ephemeral(&mut self) -> StaticSecret {
        StaticSecret::random_from_rng(&mut self.rng)
    }
}

/// `ciphertext || tag`, the layout of a Noise transport message.
fn join(mut ciphertext: Vec<u8>, tag: &[u8; TAG_LEN]) -> Vec<u8> {
    ciphertext.extend_from_slice(tag);
    ciphertext
}

/// Splits a Noise transport message into its ciphertext and tag.
fn split(message: &[u8]) -> (Vec<u8>, [u8; TAG_LEN]) {
    let (body, tag) = message.split_at(message.len() - TAG_LEN);
    let mut t = [0u8; TAG_LEN];
    t.copy_from_slice(tag);
    (body.to_vec(), t)
}

/// Exchanges transport messages with nonces 0, 1, 2 both ways between this
/// crate's split keys and `snow`'s transport state.
fn check_transport(
    keys: &TransportKeys,
    probekey_is_initiator: bool,
    snow: &mut snow::TransportState,
) -> TestResult {
    let (ours, theirs) = if probekey_is_initiator {
        (
            Direction::InitiatorToResponder,
            Direction::ResponderToInitiator,
        )
    } else {
        (
            Direction::ResponderToInitiator,
            Direction::InitiatorToResponder,
        )
    };
    for n in 0..3u64 {
        // probekey -> snow.
        let plaintext = format!("probekey to snow, message {n}").into_bytes();
        let mut body = plaintext.clone();
        let tag = keys.encrypt_transport(ours, n, &mut body).unwrap();
        assert_ne!(body, plaintext, "encrypted in place");
        let message = join(body, &tag);
        let mut out = vec![0u8; message.len()];
        let len = snow.read_message(&message, &mut out)?;
        assert_eq!(
            &out[..len],
            &plaintext[..],
            "snow opens probekey's message {n}"
        );

        // snow -> probekey.
        let plaintext = format!("snow to probekey, message {n}, a little longer").into_bytes();
        let mut message = vec![0u8; plaintext.len() + TAG_LEN];
        let len = snow.write_message(&plaintext, &mut message)?;
        assert_eq!(len, message.len());
        let (body, tag) = split(&message);
        // The wrong nonce or the wrong direction does not open it.
        let mut wrong = body.clone();
        assert_eq!(
            keys.decrypt_transport(theirs, n + 1, &mut wrong, &tag),
            Err(NoiseError::Decrypt)
        );
        let mut wrong = body.clone();
        assert_eq!(
            keys.decrypt_transport(ours, n, &mut wrong, &tag),
            Err(NoiseError::Decrypt)
        );
        let mut body = body;
        keys.decrypt_transport(theirs, n, &mut body, &tag)?;
        assert_eq!(body, plaintext, "probekey opens snow's message {n}");
    }
    Ok(())
}

/// Like [`check_transport`] but with explicit nonces beyond 32 bits, through
/// `snow`'s stateless transport, which takes the nonce per message.
fn check_large_nonces(
    keys: &TransportKeys,
    probekey_is_initiator: bool,
    snow: &snow::StatelessTransportState,
) -> TestResult {
    let (ours, theirs) = if probekey_is_initiator {
        (
            Direction::InitiatorToResponder,
            Direction::ResponderToInitiator,
        )
    } else {
        (
            Direction::ResponderToInitiator,
            Direction::InitiatorToResponder,
        )
    };
    // snow reserves u64::MAX (Noise §5.1), so stop one below.
    for n in [
        1u64 << 32,
        (1 << 32) | 5,
        0x0102_0304_0506_0708,
        u64::MAX - 1,
    ] {
        let plaintext = n.to_be_bytes().to_vec();
        let mut body = plaintext.clone();
        let tag = keys.encrypt_transport(ours, n, &mut body).unwrap();
        let message = join(body, &tag);
        let mut out = vec![0u8; message.len()];
        let len = snow.read_message(n, &message, &mut out)?;
        assert_eq!(&out[..len], &plaintext[..], "snow opens nonce {n:#x}");

        let mut message = vec![0u8; plaintext.len() + TAG_LEN];
        snow.write_message(n, &plaintext, &mut message)?;
        let (mut body, tag) = split(&message);
        keys.decrypt_transport(theirs, n, &mut body, &tag)?;
        assert_eq!(body, plaintext, "probekey opens nonce {n:#x}");
    }
    Ok(())
}

/// One handshake with this crate as initiator and `snow` as responder.
/// Returns this crate's keys and `snow`'s (finished) handshake state.
fn probekey_initiator_snow_responder(
    keys: &mut Keys,
    payload1: &[u8],
    payload2: &[u8],
) -> Result<(TransportKeys, snow::HandshakeState), Box<dyn Error>> {
    let pro = prologue_for(DEPLOYMENT_ID);
    let (i, r) = (&keys.initiator, &keys.responder);
    let r_secret = r.secret_bytes();
    let i_public = i.public();
    let mut snow_r = snow_builder(&r_secret, i_public.as_bytes(), &pro)?.build_responder()?;

    let ss = StaticDh::new(i, &r.public())?;
    let mut m1 = vec![0u8; message_len(payload1.len())];
    let ephemeral = StaticSecret::random_from_rng(&mut keys.rng);
    let init = Initiator::write_initiation(
        &pro,
        &keys.initiator,
        &keys.responder.public(),
        &ss,
        ephemeral,
        payload1,
        &mut m1,
    )?;
    assert_eq!(m1.len(), 32 + payload1.len() + 16);
    assert_eq!(&m1[..32], init.ephemeral_public().as_bytes(), "e in clear");

    let mut p1 = vec![0u8; m1.len()];
    let len = snow_r.read_message(&m1, &mut p1)?;
    assert_eq!(
        &p1[..len],
        payload1,
        "snow reads probekey's message 1 payload"
    );

    let mut m2 = vec![0u8; message_len(payload2.len())];
    let len = snow_r.write_message(payload2, &mut m2)?;
    assert_eq!(len, m2.len(), "message 2 is e + payload + tag");
    assert!(snow_r.is_handshake_finished());

    let mut p2 = vec![0u8; m2.len() - 48];
    let transport = init.read_response(&keys.initiator, &m2, &mut p2)?;
    assert_eq!(p2, payload2, "probekey reads snow's message 2 payload");
    assert_eq!(
        Initiator::WRITE_INITIATION_DH + Initiator::READ_RESPONSE_DH,
        3,
        "es, ee, se; ss precomputed"
    );
    assert_eq!(
        &transport.handshake_hash()[..],
        snow_r.get_handshake_hash(),
        "same handshake hash"
    );
    Ok((transport, snow_r))
}

/// One handshake with `snow` as initiator and this crate as responder.
fn snow_initiator_probekey_responder(
    keys: &mut Keys,
    payload1: &[u8],
    payload2: &[u8],
) -> Result<(TransportKeys, snow::HandshakeState), Box<dyn Error>> {
    let pro = prologue_for(DEPLOYMENT_ID);
    let i_secret = keys.initiator.secret_bytes();
    let r_public = keys.responder.public();
    let mut snow_i = snow_builder(&i_secret, r_public.as_bytes(), &pro)?.build_initiator()?;

    let mut m1 = vec![0u8; message_len(payload1.len())];
    let len = snow_i.write_message(payload1, &mut m1)?;
    assert_eq!(len, m1.len(), "message 1 is e + payload + tag");

    let i_public = keys.initiator.public();
    let ss = StaticDh::new(&keys.responder, &i_public)?;
    let mut p1 = vec![0u8; payload1.len()];
    let resp = Responder::read_initiation(&pro, &keys.responder, &i_public, &ss, &m1, &mut p1)?;
    assert_eq!(p1, payload1, "probekey reads snow's message 1 payload");
    assert_eq!(&m1[..32], resp.remote_ephemeral().as_bytes());

    let mut m2 = vec![0u8; message_len(payload2.len())];
    let ephemeral = keys.ephemeral();
    let transport = resp.write_response(&i_public, ephemeral, payload2, &mut m2)?;
    assert_eq!(
        Responder::READ_INITIATION_DH + Responder::WRITE_RESPONSE_DH,
        3,
        "es, ee, se; ss precomputed"
    );

    let mut p2 = vec![0u8; m2.len()];
    let len = snow_i.read_message(&m2, &mut p2)?;
    assert_eq!(
        &p2[..len],
        payload2,
        "snow reads probekey's message 2 payload"
    );
    assert!(snow_i.is_handshake_finished());
    assert_eq!(
        &transport.handshake_hash()[..],
        snow_i.get_handshake_hash(),
        "same handshake hash"
    );
    Ok((transport, snow_i))
}

#[test]
fn protocol_name_and_prologue() -> TestResult {
    assert_eq!(&PROTOCOL_NAME[..], PATTERN.as_bytes());
    // snow accepts the name as the very pattern we claim.
    let params: snow::params::NoiseParams = core::str::from_utf8(PROTOCOL_NAME)?.parse()?;
    assert_eq!(params.name, PATTERN);
    // "probekey" || version || len(id) || id.
    let mut expected = b"probekey".to_vec();
    expected.push(VERSION);
    expected.push(12);
    expected.extend_from_slice(DEPLOYMENT_ID);
    assert_eq!(prologue_for(DEPLOYMENT_ID), expected);
    Ok(())
}

#[test]
fn probekey_initiator_with_snow_responder() -> TestResult {
    for seed in 0..8 {
        let mut keys = Keys::new(seed);
        let (transport, snow_r) =
            probekey_initiator_snow_responder(&mut keys, b"hello, snow!", b"hello, probekey")?;
        let mut snow_r = snow_r.into_transport_mode()?;
        check_transport(&transport, true, &mut snow_r)?;
    }
    Ok(())
}

#[test]
fn snow_initiator_with_probekey_responder() -> TestResult {
    for seed in 100..108 {
        let mut keys = Keys::new(seed);
        let (transport, snow_i) =
            snow_initiator_probekey_responder(&mut keys, b"hello, probe", b"hello from probekey")?;
        let mut snow_i = snow_i.into_transport_mode()?;
        check_transport(&transport, false, &mut snow_i)?;
    }
    Ok(())
}

#[test]
fn payload_lengths_including_empty() -> TestResult {
    for (seed, len) in [
        (200, 0usize),
        (201, 1),
        (202, 12),
        (203, 16),
        (204, 17),
        (205, 1000),
    ] {
        let payload1: Vec<u8> = (0u8..=250).cycle().take(len).collect();
        let payload2: Vec<u8> = payload1.iter().rev().map(|b| b ^ 0x5a).collect();
        let mut keys = Keys::new(seed);
        let (t, s) = probekey_initiator_snow_responder(&mut keys, &payload1, &payload2)?;
        check_transport(&t, true, &mut s.into_transport_mode()?)?;
        let mut keys = Keys::new(seed);
        let (t, s) = snow_initiator_probekey_responder(&mut keys, &payload1, &payload2)?;
        check_transport(&t, false, &mut s.into_transport_mode()?)?;
    }
    Ok(())
}

#[test]
fn transport_nonces_beyond_32_bits() -> TestResult {
    let mut keys = Keys::new(300);
    let (t, s) = probekey_initiator_snow_responder(&mut keys, b"hello, snow!", b"")?;
    check_large_nonces(&t, true, &s.into_stateless_transport_mode()?)?;
    let mut keys = Keys::new(301);
    let (t, s) = snow_initiator_probekey_responder(&mut keys, b"hello, probe", b"")?;
    check_large_nonces(&t, false, &s.into_stateless_transport_mode()?)?;
    Ok(())
}

/// With the same static and ephemeral keys, prologue and payloads, this
/// crate and `snow` write the very same bytes.
#[test]
fn fixed_ephemerals_give_byte_identical_messages() -> TestResult {
    let pro = prologue_for(DEPLOYMENT_ID);
    for seed in 400..404u64 {
        let keys = Keys::new(seed);
        let (i, r) = (&keys.initiator, &keys.responder);
        let (i_secret, r_secret) = (i.secret_bytes(), r.secret_bytes());
        let (i_public, r_public) = (i.public(), r.public());
        let mut bytes = ChaCha20Rng::seed_from_u64(seed ^ 0xe);
        let e_i = StaticSecret::random_from_rng(&mut bytes).to_bytes();
        let e_r = StaticSecret::random_from_rng(&mut bytes).to_bytes();
        let payload1 = b"sender+gen12";
        let payload2 = b"resp+init+gen-16";

        // probekey on both sides.
        let ss_i = StaticDh::new(i, &r_public)?;
        let ss_r = StaticDh::new(r, &i_public)?;
        let mut pk_m1 = vec![0u8; message_len(payload1.len())];
        let init = Initiator::write_initiation(
            &pro,
            i,
            &r_public,
            &ss_i,
            StaticSecret::from(e_i),
            payload1,
            &mut pk_m1,
        )?;
        let mut p1 = [0u8; 12];
        let resp = Responder::read_initiation(&pro, r, &i_public, &ss_r, &pk_m1, &mut p1)?;
        let mut pk_m2 = vec![0u8; message_len(payload2.len())];
        let pk_keys_r =
            resp.write_response(&i_public, StaticSecret::from(e_r), payload2, &mut pk_m2)?;
        let mut p2 = [0u8; 16];
        let pk_keys_i = init.read_response(i, &pk_m2, &mut p2)?;
        assert_eq!(pk_keys_i.handshake_hash(), pk_keys_r.handshake_hash());

        // snow on both sides, same inputs.
        let mut snow_i = snow_builder(&i_secret, r_public.as_bytes(), &pro)?
            .fixed_ephemeral_key_for_testing_only(&e_i)
            .build_initiator()?;
        let mut snow_r = snow_builder(&r_secret, i_public.as_bytes(), &pro)?
            .fixed_ephemeral_key_for_testing_only(&e_r)
            .build_responder()?;
        let mut snow_m1 = vec![0u8; 128];
        let len = snow_i.write_message(payload1, &mut snow_m1)?;
        snow_m1.truncate(len);
        let mut scratch = [0u8; 128];
        snow_r.read_message(&snow_m1, &mut scratch)?;
        let mut snow_m2 = vec![0u8; 128];
        let len = snow_r.write_message(payload2, &mut snow_m2)?;
        snow_m2.truncate(len);
        snow_i.read_message(&snow_m2, &mut scratch)?;

        assert_eq!(pk_m1, snow_m1, "message 1 byte-identical (seed {seed})");
        assert_eq!(pk_m2, snow_m2, "message 2 byte-identical (seed {seed})");
        assert_eq!(&pk_keys_i.handshake_hash()[..], snow_i.get_handshake_hash());
        assert_eq!(&pk_keys_r.handshake_hash()[..], snow_r.get_handshake_hash());

        // The first transport message each way is byte-identical too.
        let mut snow_i = snow_i.into_transport_mode()?;
        let mut snow_r = snow_r.into_transport_mode()?;
        for (dir, snow, keys) in [
            (Direction::InitiatorToResponder, &mut snow_i, &pk_keys_i),
            (Direction::ResponderToInitiator, &mut snow_r, &pk_keys_r),
        ] {
            let plaintext = b"identical transport message";
            let mut body = plaintext.to_vec();
            let tag = keys.encrypt_transport(dir, 0, &mut body).unwrap();
            let mut snow_msg = vec![0u8; plaintext.len() + TAG_LEN];
            snow.write_message(plaintext, &mut snow_msg)?;
            assert_eq!(
                join(body, &tag),
                snow_msg,
                "{dir:?} transport message byte-identical"
            );
        }
    }
    Ok(())
}

/// The prologue binds version and deployment: a mismatch fails the first
/// message, whichever implementation reads it.
#[test]
fn prologue_mismatch_is_refused() -> TestResult {
    let ours = prologue_for(DEPLOYMENT_ID);
    let mut other_version = [0u8; MAX_PROLOGUE_LEN];
    let len = prologue(VERSION + 1, DEPLOYMENT_ID, &mut other_version);
    for theirs in [
        prologue_for(b"interop-tesT"),
        prologue_for(b""),
        other_version[..len].to_vec(),
    ] {
        let keys = Keys::new(500);
        let (i, r) = (&keys.initiator, &keys.responder);
        let (i_secret, r_secret) = (i.secret_bytes(), r.secret_bytes());
        let (i_public, r_public) = (i.public(), r.public());
        let payload = b"hello, snow!";

        // probekey writes with `ours`, snow reads with `theirs`.
        let ss_i = StaticDh::new(i, &r_public)?;
        let mut m1 = vec![0u8; message_len(payload.len())];
        Initiator::write_initiation(
            &ours,
            i,
            &r_public,
            &ss_i,
            StaticSecret::from([7u8; 32]),
            payload,
            &mut m1,
        )?;
        let mut snow_r =
            snow_builder(&r_secret, i_public.as_bytes(), &theirs)?.build_responder()?;
        let mut out = [0u8; 64];
        assert!(matches!(
            snow_r.read_message(&m1, &mut out),
            Err(snow::Error::Decrypt)
        ));
        // Same prologue: snow accepts the same bytes.
        let mut snow_r = snow_builder(&r_secret, i_public.as_bytes(), &ours)?.build_responder()?;
        snow_r.read_message(&m1, &mut out)?;

        // snow writes with `theirs`, probekey reads with `ours`.
        let mut snow_i =
            snow_builder(&i_secret, r_public.as_bytes(), &theirs)?.build_initiator()?;
        let mut m1 = vec![0u8; message_len(payload.len())];
        snow_i.write_message(payload, &mut m1)?;
        let ss_r = StaticDh::new(r, &i_public)?;
        let mut p1 = [0u8; 12];
        let refused = Responder::read_initiation(&ours, r, &i_public, &ss_r, &m1, &mut p1);
        assert_eq!(refused.err(), Some(NoiseError::Decrypt));
        assert_eq!(p1, [0u8; 12], "no unauthenticated plaintext leaks out");
        Responder::read_initiation(&theirs, r, &i_public, &ss_r, &m1, &mut p1)?;
        assert_eq!(&p1, payload);
    }
    Ok(())
}

/// The other things KK binds: the static keys, and every byte of message 2.
#[test]
fn wrong_static_key_or_tampering_is_refused() -> TestResult {
    let pro = prologue_for(DEPLOYMENT_ID);
    let mut keys = Keys::new(600);
    let stranger = StaticKeypair::generate(&mut keys.rng);
    let (i, r) = (&keys.initiator, &keys.responder);
    let r_secret = r.secret_bytes();
    let payload = b"hello, snow!";

    // A stranger's message 1 to a snow responder expecting `i`.
    let ss = StaticDh::new(&stranger, &r.public())?;
    let mut m1 = vec![0u8; message_len(payload.len())];
    Initiator::write_initiation(
        &pro,
        &stranger,
        &r.public(),
        &ss,
        StaticSecret::from([9u8; 32]),
        payload,
        &mut m1,
    )?;
    let mut snow_r = snow_builder(&r_secret, i.public().as_bytes(), &pro)?.build_responder()?;
    let mut out = [0u8; 64];
    assert!(matches!(
        snow_r.read_message(&m1, &mut out),
        Err(snow::Error::Decrypt)
    ));

    // Every single-bit flip of snow's message 2 is refused by probekey.
    let ss = StaticDh::new(i, &r.public())?;
    let mut m1 = vec![0u8; message_len(payload.len())];
    let init = Initiator::write_initiation(
        &pro,
        i,
        &r.public(),
        &ss,
        StaticSecret::random_from_rng(&mut keys.rng),
        payload,
        &mut m1,
    )?;
    let mut snow_r = snow_builder(&r_secret, i.public().as_bytes(), &pro)?.build_responder()?;
    snow_r.read_message(&m1, &mut out)?;
    let mut m2 = vec![0u8; message_len(4)];
    snow_r.write_message(b"pong", &mut m2)?;
    let mut p2 = [0u8; 4];
    for byte in 0..m2.len() {
        let mut bad = m2.clone();
        bad[byte] ^= 1;
        // A flipped bit of the ephemeral key may make it low order
        // (NonContributory) or, more likely, change every key (Decrypt).
        let refused = init.read_response(i, &bad, &mut p2);
        assert!(
            matches!(
                refused,
                Err(NoiseError::Decrypt | NoiseError::NonContributory)
            ),
            "flip in byte {byte}: {refused:?}"
        );
    }
    // The state was left unchanged: the genuine message 2 still completes.
    let transport = init.read_response(i, &m2, &mut p2)?;
    assert_eq!(&p2, b"pong");
    assert_eq!(&transport.handshake_hash()[..], snow_r.get_handshake_hash());
    Ok(())
}

/// The Noise message inside a real initiation datagram, as an endpoint
/// sends it, is a KK message 1 that `snow` accepts, carrying the sender
/// index and the proposed generation.
#[test]
fn endpoint_initiation_opens_in_snow() -> TestResult {
    let config = Config::builder().deployment_id(DEPLOYMENT_ID).build()?;
    let local = StaticKeypair::from_secret_bytes([0x42; 32]);
    let local_public = local.public();
    let snow_side = StaticKeypair::from_secret_bytes([0x24; 32]);
    let rng = ChaCha20Rng::seed_from_u64(1);
    let mut ep = Endpoint::new(config, local, rng, Vec::new());
    let peer = ep.add_peer(Instant::ZERO, snow_side.public())?;
    ep.handle_timeout(Instant::ZERO);
    let mut buf = [0u8; 1500];
    let transmit = ep
        .poll_transmit(Instant::ZERO, &mut buf)?
        .ok_or("no initiation queued")?;
    assert_eq!(transmit.peer, peer);
    assert_eq!(transmit.kind, TransmitKind::Initiation);
    assert_eq!(transmit.len, INITIATION_LEN);
    let datagram = &buf[..transmit.len];
    assert_eq!(datagram[0], TYPE_INITIATION);
    assert_eq!(datagram[1], VERSION);
    assert_eq!(&datagram[2..4], &[0, 0]);
    assert_eq!(&datagram[8..16], &local_public.key_id().0);

    let noise = &datagram[16..MAC1_OFFSET];
    assert_eq!(noise.len(), message_len(INITIATION_PAYLOAD_LEN));
    let pro = prologue_for(DEPLOYMENT_ID);
    let snow_secret = snow_side.secret_bytes();
    let mut snow_r =
        snow_builder(&snow_secret, local_public.as_bytes(), &pro)?.build_responder()?;
    let mut payload = [0u8; 64];
    let len = snow_r.read_message(noise, &mut payload)?;
    assert_eq!(len, INITIATION_PAYLOAD_LEN);
    let mut bytes = [0u8; INITIATION_PAYLOAD_LEN];
    bytes.copy_from_slice(&payload[..INITIATION_PAYLOAD_LEN]);
    let proposed = probekey::wire::InitiationPayload::from_bytes(&bytes);
    assert_eq!(
        proposed.sender_index,
        probekey::wire::Initiation::parse(datagram)
            .expect("an initiation")
            .sender_index,
        "payload starts with the sender index"
    );
    assert_eq!(proposed.generation, 1, "first proposed generation");

    // A snow responder with another deployment's prologue refuses it.
    let other = prologue_for(b"other-deployment");
    let mut snow_r =
        snow_builder(&snow_secret, local_public.as_bytes(), &other)?.build_responder()?;
    assert!(matches!(
        snow_r.read_message(noise, &mut payload),
        Err(snow::Error::Decrypt)
    ));

    // So does one expecting a different initiator.
    let stranger: PublicKey = StaticKeypair::from_secret_bytes([0x43; 32]).public();
    let mut snow_r = snow_builder(&snow_secret, stranger.as_bytes(), &pro)?.build_responder()?;
    assert!(matches!(
        snow_r.read_message(noise, &mut payload),
        Err(snow::Error::Decrypt)
    ));
    Ok(())
}

#[test]
fn reserved_noise_nonce_is_refused() -> TestResult {
    let (keys, _) = probekey_initiator_snow_responder(&mut Keys::new(9), b"", b"")?;
    let mut body = [0u8; 4];
    assert_eq!(
        keys.encrypt_transport(Direction::InitiatorToResponder, u64::MAX, &mut body),
        Err(NoiseError::NonceExhausted)
    );
    assert_eq!(
        keys.decrypt_transport(
            Direction::InitiatorToResponder,
            u64::MAX,
            &mut body,
            &[0; 16]
        ),
        Err(NoiseError::NonceExhausted)
    );
    Ok(())
}
