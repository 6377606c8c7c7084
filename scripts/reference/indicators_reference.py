#!/usr/bin/env python3
"""
Reference values for policy-gate's indicator features (src/core/features.ts), computed with pandas
the way training code usually computes them (full-history ewm/rolling/cumsum idioms), written to
test/fixtures/indicators/btc_1hour_pandas.json.gz. CI has no pandas: test/indicators.test.ts reads
the JSON and compares every bar.

Independent of policy-gate: nothing here reads its code; each feature is the textbook pandas idiom.
Conventions (the same as the feature's documented definition in docs/policy-card.md):
  - EMAs are pandas ewm over the WHOLE history from the first bar (span=n, or alpha=1/n for Wilder),
    seeded the pandas way (first value); policy-gate computes them over a finite trailing span whose
    truncated weight is <= 1e-12, so the two agree to about 1e-12 times the series' range.
  - Ratios are fractions (RSI and stochastic in [0, 1], not 0..100).
  - std uses the ddof named in each spec.

Usage:
    /usr/bin/python3 scripts/reference/indicators_reference.py \
        test/fixtures/bars/bitcoin_2024_coinbase.csv test/fixtures/indicators/btc_1hour_pandas.json.gz
"""
import gzip
import hashlib
import json
import math
import sys

import numpy as np
import pandas as pd


def main(src: str, dst: str) -> None:
    raw = open(src, 'rb').read()
    df = pd.read_csv(src)
    df = df.sort_values('unix').reset_index(drop=True)
    o, h, l, c, v = (df[k].astype('float64') for k in ('open', 'high', 'low', 'close', 'volume'))

    delta = c.diff()
    gain = delta.clip(lower=0)
    loss = (-delta).clip(lower=0)

    def rsi_wilder(n):
        ag = gain.ewm(alpha=1 / n, adjust=False).mean()
        al = loss.ewm(alpha=1 / n, adjust=False).mean()
        return ag / (ag + al)

    def rsi_cutler(n):
        ag = gain.rolling(n).mean()
        al = loss.rolling(n).mean()
        return ag / (ag + al)

    def ema_ratio(n, adjust):
        return c / c.ewm(span=n, adjust=adjust).mean() - 1

    def macd(fast, slow, signal, adjust, part):
        line = c.ewm(span=fast, adjust=adjust).mean() - c.ewm(span=slow, adjust=adjust).mean()
        sig = line.ewm(span=signal, adjust=adjust).mean()
        return {'line': line, 'signal': sig, 'hist': line - sig}[part] / c

    def bollinger(n, k, ddof, part):
        m = c.rolling(n).mean()
        sd = c.rolling(n).std(ddof=ddof)
        upper, lower = m + k * sd, m - k * sd
        return (c - lower) / (upper - lower) if part == 'b' else (upper - lower) / m

    def atr(n):
        prev = c.shift(1)
        tr = pd.concat([h - l, (h - prev).abs(), (l - prev).abs()], axis=1).max(axis=1)
        return tr.ewm(alpha=1 / n, adjust=False).mean() / c

    def stoch(n, d=None):
        ll = l.rolling(n).min()
        hh = h.rolling(n).max()
        k = (c - ll) / (hh - ll)
        return k if d is None else k.rolling(d).mean()

    obv = (np.sign(delta) * v).fillna(0).cumsum()

    def obv_z(n, ddof):
        return (obv - obv.rolling(n).mean()) / obv.rolling(n).std(ddof=ddof)

    def obv_change(n):
        return obv.diff(n) / v.rolling(n).sum()

    def vwap_distance(n, price):
        p = (h + l + c) / 3 if price == 'typical' else c
        return c / ((p * v).rolling(n).sum() / v.rolling(n).sum()) - 1

    def volatility(n, returns, ddof):
        r = np.log(c).diff() if returns == 'log' else c.pct_change()
        return r.rolling(n).std(ddof=ddof)

    def volume_z(n, ddof):
        return (v - v.rolling(n).mean()) / v.rolling(n).std(ddof=ddof)

    cases = [
        ({'name': 'rsi', 'period': 14, 'method': 'wilder'}, rsi_wilder(14), 'gain/loss .ewm(alpha=1/14, adjust=False)'),
        ({'name': 'rsi', 'period': 14}, rsi_cutler(14), 'gain/loss .rolling(14).mean()'),
        ({'name': 'rsi', 'period': 2, 'method': 'wilder'}, rsi_wilder(2), 'gain/loss .ewm(alpha=1/2, adjust=False)'),
        ({'name': 'ema_ratio', 'period': 20, 'adjust': False}, ema_ratio(20, False), 'c / c.ewm(span=20, adjust=False).mean() - 1'),
        ({'name': 'ema_ratio', 'period': 20, 'adjust': True}, ema_ratio(20, True), 'c / c.ewm(span=20, adjust=True).mean() - 1'),
        ({'name': 'ema_ratio', 'period': 200, 'adjust': False}, ema_ratio(200, False), 'c / c.ewm(span=200, adjust=False).mean() - 1'),
        ({'name': 'macd'}, macd(12, 26, 9, False, 'line'), '(ewm12 - ewm26) / c, adjust=False'),
        ({'name': 'macd_signal'}, macd(12, 26, 9, False, 'signal'), 'line.ewm(span=9, adjust=False).mean() / c'),
        ({'name': 'macd_hist'}, macd(12, 26, 9, False, 'hist'), '(line - signal) / c'),
        ({'name': 'macd_hist', 'fast': 5, 'slow': 35, 'signal': 5, 'adjust': True}, macd(5, 35, 5, True, 'hist'), '(line - signal) / c, spans 5/35/5, adjust=True'),
        ({'name': 'bollinger_b'}, bollinger(20, 2, 1, 'b'), 'rolling(20) mean +- 2 std(ddof=1); (c - lower) / (upper - lower)'),
        ({'name': 'bollinger_b', 'period': 20, 'mult': 2.5, 'ddof': 0}, bollinger(20, 2.5, 0, 'b'), 'rolling(20) mean +- 2.5 std(ddof=0)'),
        ({'name': 'bollinger_width'}, bollinger(20, 2, 1, 'width'), '(upper - lower) / mean'),
        ({'name': 'atr'}, atr(14), 'true range .ewm(alpha=1/14, adjust=False).mean() / c'),
        ({'name': 'stoch_k'}, stoch(14), '(c - low.rolling(14).min()) / (high.rolling(14).max() - low.rolling(14).min())'),
        ({'name': 'stoch_d'}, stoch(14, 3), '%K.rolling(3).mean()'),
        ({'name': 'obv_z', 'period': 24}, obv_z(24, 1), 'obv = (sign(c.diff()) * v).fillna(0).cumsum(); rolling(24) z-score, ddof=1'),
        ({'name': 'obv_z', 'period': 24, 'ddof': 0}, obv_z(24, 0), 'the same, ddof=0'),
        ({'name': 'obv_change', 'period': 24}, obv_change(24), 'obv.diff(24) / v.rolling(24).sum()'),
        ({'name': 'vwap_distance', 'period': 24}, vwap_distance(24, 'typical'), 'c / (sum(tp*v) / sum(v) over 24 bars) - 1, tp = (h+l+c)/3'),
        ({'name': 'vwap_distance', 'period': 24, 'price': 'close'}, vwap_distance(24, 'close'), 'c / (sum(c*v) / sum(v) over 24 bars) - 1'),
        ({'name': 'volatility', 'period': 24}, volatility(24, 'log', 1), 'np.log(c).diff().rolling(24).std(ddof=1)'),
        ({'name': 'volatility', 'period': 24, 'returns': 'simple', 'ddof': 0}, volatility(24, 'simple', 0), 'c.pct_change().rolling(24).std(ddof=0)'),
        ({'name': 'volume_z', 'period': 24, 'ddof': 0}, volume_z(24, 0), '(v - v.rolling(24).mean()) / v.rolling(24).std(ddof=0)'),
    ]

    def num(x):
        x = float(x)
        return None if math.isnan(x) or math.isinf(x) else float('%.17g' % x)

    out = {
        'provenance': {
            'script': 'scripts/reference/indicators_reference.py',
            'bars': src.replace('\\', '/'),
            'bars_sha256': hashlib.sha256(raw).hexdigest(),
            'python': sys.version.split()[0],
            'pandas': pd.__version__,
            'numpy': np.__version__,
            'conventions': 'full-history pandas ewm (first-value seed) and rolling windows; ratios as fractions; '
                           'null where pandas gives NaN',
        },
        'rows': len(df),
        'first': df['date'].iloc[0],
        'last': df['date'].iloc[-1],
        'features': [{'spec': spec, 'pandas': how, 'values': [num(x) for x in series]} for spec, series, how in cases],
    }
    text = json.dumps(out, separators=(',', ':')) + '\n'
    with open(dst, 'wb') as f:  # gzip with no name and mtime 0: the same bytes on every run
        with gzip.GzipFile(filename='', mode='wb', fileobj=f, mtime=0) as z:
            z.write(text.encode('utf-8'))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
