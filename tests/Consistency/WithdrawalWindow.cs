namespace ShopAstro.Tests.Consistency;

/// <summary>A consent write as a client saw it: sent, then acknowledged (monotonic timestamps).</summary>
public sealed record AcknowledgedWrite(bool Granted, long SentAt, long AckedAt);

/// <summary>The window the revocation tests guard: when only an acknowledged withdrawal is in effect.</summary>
public static class WithdrawalWindow
{
    /// <summary>
    /// Whether a check that ran from <paramref name="startedAt"/> to <paramref name="endedAt"/> must be denied: the
    /// last write sent before it started was a withdrawal already acknowledged, and the next grant was not sent
    /// before it ended (a check that overlaps a grant may see it).
    /// </summary>
    public static bool MustBeDenied(long startedAt, long endedAt, List<AcknowledgedWrite> writes)
    {
        var last = writes.FindLastIndex(w => w.SentAt < startedAt);
        return last >= 0
            && writes[last] is { Granted: false } withdrawal && withdrawal.AckedAt < startedAt
            && (last + 1 == writes.Count || writes[last + 1].SentAt > endedAt);
    }
}
