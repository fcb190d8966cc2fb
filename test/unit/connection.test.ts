import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { handshakeReplyCode } from '../../shared/src/broker/connection-errors.js';

describe('handshakeReplyCode', () => {
  it('reads 403 from a refused login', () => {
    const err = new Error(
      'Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."',
    );
    assert.equal(handshakeReplyCode(err), 403);
  });

  it('reads other reply codes from a terminated handshake', () => {
    assert.equal(handshakeReplyCode(new Error('Handshake terminated by server: 530 (NOT-ALLOWED) with message "NOT_ALLOWED - vhost x not found"')), 530);
    assert.equal(handshakeReplyCode(new Error('Handshake terminated by server: 320 (CONNECTION-FORCED) with message "shutdown"')), 320);
  });

  it('treats a ConnectionClose instead of ConnectionOpenOk as 530 (vhost refused)', () => {
    assert.equal(handshakeReplyCode(new Error('Expected ConnectionOpenOk; got <ConnectionClose channel:0>')), 530);
  });

  it('uses a numeric code when the error has one', () => {
    const err = Object.assign(new Error('Connection closed: 320 (CONNECTION-FORCED)'), { code: 320 });
    assert.equal(handshakeReplyCode(err), 320);
  });

  it('returns undefined for other errors and for non-errors', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5672'), { code: 'ECONNREFUSED' });
    assert.equal(handshakeReplyCode(refused), undefined);
    assert.equal(handshakeReplyCode(new Error('Socket closed abruptly during opening handshake')), undefined);
    assert.equal(handshakeReplyCode(new Error('Expected ConnectionTuneOk; got <ConnectionStart channel:0>')), undefined);
    assert.equal(handshakeReplyCode(new Error('Frame on channel != 0 during handshake: Handshake terminated by server: 403')), undefined);
    assert.equal(handshakeReplyCode('Handshake terminated by server: 403 (ACCESS-REFUSED)'), undefined);
    assert.equal(handshakeReplyCode(undefined), undefined);
    assert.equal(handshakeReplyCode({ message: 'Handshake terminated by server: 403' }), undefined);
  });
});
