"""In-place distillation loss: zero on agreement, positive otherwise, teaches the student only."""

from __future__ import annotations

import pytest
import torch

from hyctas.train.loss import distillation_loss

KW = dict(ignore_label=255, temperature=1.0)


def logits(seed: int, shape=(2, 5, 4, 6)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_zero_when_the_student_predicts_what_the_teacher_does() -> None:
    teacher = logits(0)
    labels = torch.zeros(2, 4, 6, dtype=torch.long)
    assert distillation_loss(teacher.clone(), teacher, labels, **KW).item() == pytest.approx(
        0.0, abs=1e-6
    )
    # Softmax is shift-invariant: the same distribution is no loss either.
    assert distillation_loss(teacher + 3.0, teacher, labels, **KW).item() < 1e-6
    assert distillation_loss(logits(1), teacher, labels, **KW).item() > 0.01


def test_gradient_reaches_the_student_only() -> None:
    student = logits(1).requires_grad_()
    teacher = logits(0).requires_grad_()
    labels = torch.zeros(2, 4, 6, dtype=torch.long)
    distillation_loss(student, teacher, labels, **KW).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None


def test_it_is_the_kl_of_the_non_ignored_pixels_at_the_loss_resolution() -> None:
    student, teacher = logits(1), logits(0)
    labels = torch.zeros(2, 8, 12, dtype=torch.long)  # twice the logits' size: subsampled
    labels[:, :, 6:] = 255  # the right half of the image ignored
    p, q = student.log_softmax(1), teacher.log_softmax(1)
    kl = (q.exp() * (q - p)).sum(1)[:, :, :3]  # the left half at logit resolution
    got = distillation_loss(student, teacher, labels, **KW)
    assert got.item() == pytest.approx(kl.mean().item(), rel=1e-5)
    everything_ignored = torch.full_like(labels, 255)
    assert distillation_loss(student, teacher, everything_ignored, **KW).item() == 0.0
    hot = distillation_loss(student, teacher, labels, ignore_label=255, temperature=2.0)
    assert hot.item() != pytest.approx(got.item())  # the temperature is used
