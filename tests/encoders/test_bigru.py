"""CMD / HaLP BiGRU: parameter count, input flattening, the official recurrence, key mapping."""

from __future__ import annotations

import torch
from torch import nn

import mmfusion
from mmfusion.encoders.bigru import BiGRU, load_official_bigru_state


def test_parameter_count_matches_the_official_encoder(count_params) -> None:
    with torch.device("meta"):  # 45 M parameters: count without allocating
        enc = BiGRU()
        with_fc = mmfusion.create_model("bigru", num_classes=128)
    # official BIGRU(150, 1024, 3, num_class=128): 45,261,228 ("45.3 M"), of which the fc is 262,272
    assert count_params(enc) == 44_998_956
    assert count_params(with_fc) == 45_261_228
    assert enc.out_dim == 2048


def test_input_is_flattened_joint_then_coordinate_then_person() -> None:
    enc = BiGRU(hidden_size=4, num_layers=1)
    x = torch.zeros(1, 3, 2, 25, 2)
    x[0, 1, 0, 3, 1] = 1.0  # coordinate y of joint 3, person 1
    flat = enc.flatten_input(x)
    assert flat.shape == (1, 2, 150) and flat[0, 0, 3 * 6 + 1 * 2 + 1] == 1.0


def test_matches_a_bidirectional_gru_fed_one_frame_at_a_time() -> None:
    # the official encoder loops over frames carrying the hidden state of nn.GRU(bidirectional=True)
    enc = BiGRU(hidden_size=8, num_layers=2).eval()
    ref = nn.GRU(150, 8, num_layers=2, bidirectional=True, batch_first=True)
    state = {f"encoder.gru.{k}": v for k, v in ref.state_dict().items()}
    state.update({f"input_norm.{k}": v for k, v in enc.input_norm.state_dict().items()})
    enc.load_state_dict(load_official_bigru_state(enc, state))
    x = torch.randn(3, 3, 6, 25, 2)
    seq = enc.input_norm(enc.flatten_input(x).transpose(1, 2)).transpose(1, 2)
    hidden, outs = None, []
    for t in range(seq.shape[1]):
        out, hidden = ref(seq[:, t:t + 1], hidden)
        outs.append(out)
    torch.testing.assert_close(enc(x), torch.cat(outs, 1)[:, -1], rtol=1e-5, atol=1e-6)
    # the textbook bidirectional GRU differs
    enc.reverse_in_time = True
    assert not torch.allclose(enc(x), torch.cat(outs, 1)[:, -1], atol=1e-4)
