// Who keeps a single-use invitation when a second key redeems it long after the first:
// the first everywhere, including on the second key's own peer, which redeemed before it
// had heard of the first and must then see itself refused (ERR_INVITATION_USED), not
// believe in a role nobody else grants it. A backdated redemption still takes nothing
// from a key that holds it.
import { expect } from 'chai';
import { toHex } from '../../shared/bytes.ts';
import { Identity } from '../../shared/identity/identity.ts';
import { MeshTrust, redeemedKey } from '../../shared/trust/mesh-trust.ts';
import { makeInvitation, redeemInvitation } from '../../shared/trust/statements.ts';
import { refuseWrite } from '../../shared/trust/write-policy.ts';

const MESH = 'redemption-order';

describe('Single-use invitations redeemed twice', () => {
  it('the later redeemer gives way to the earlier redemption; nobody gives way to a backdated one', async () => {
    const owner = await Identity.generate();
    const trust = new MeshTrust({ mesh: MESH, owners: [toHex(owner.publicKey)] });
    const now = 1_000_000;
    const token = makeInvitation(owner, { mesh: MESH, role: 'owner', expires: now + 3_600_000, once: true });
    const [firstKey, secondKey] = await Promise.all([Identity.generate(), Identity.generate()]).then((ids) => ids.map((i) => toHex(i.publicKey)));
    // The first page redeemed a minute ago; the second one just now, before it had synced.
    const first = { id: redeemedKey(token.invitation.key), subject: firstKey!, grant: redeemInvitation(token, firstKey!, now - 60_000) };
    const second = { id: redeemedKey(token.invitation.key), subject: secondKey!, grant: redeemInvitation(token, secondKey!, now) };
    const attempt = (value: Record<string, unknown>, previous: Record<string, unknown>, reader: string, seenAt = now - 10) => refuseWrite({
      map: 'trust', key: redeemedKey(token.invitation.key), value, author: String(value.subject), role: undefined,
      previous: { value: previous, author: String(previous.subject), seenAt }, trust, lookup: () => undefined, now, reader,
    });

    // On the second page: the first redemption arrives after its own, and wins.
    expect(attempt(first, second, secondKey!)).to.equal(undefined);
    // On any other peer that saw the second first (a split view), the stale first does not displace it…
    expect(attempt(first, second, toHex(owner.publicKey))?.code).to.equal('ERR_WRITE_FORBIDDEN');
    // …and on the first page, the later redemption never displaces its own.
    expect(attempt(second, first, firstKey!)?.code).to.equal('ERR_WRITE_FORBIDDEN');
    // A backdated redemption by a third key takes nothing from the first page, which has held
    // the invitation for a minute, nor from any other peer.
    const thirdKey = toHex((await Identity.generate()).publicKey);
    const backdated = { id: redeemedKey(token.invitation.key), subject: thirdKey, grant: redeemInvitation(token, thirdKey, now - 3_600_000) };
    expect(attempt(backdated, first, firstKey!, now - 60_000)?.code).to.equal('ERR_WRITE_FORBIDDEN');
    expect(attempt(backdated, first, toHex(owner.publicKey), now - 60_000)?.code).to.equal('ERR_WRITE_FORBIDDEN');
  });
});
