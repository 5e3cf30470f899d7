namespace ShopAstro.Grains.Interfaces;

/// <summary>
/// The instant (UTC) after which nothing may be made durable for a client's call: the caller gives up on the call at its
/// response timeout and answers failure (503), so a write that starts later would take effect after a failure was
/// reported and, worse, after later writes of the same client were acknowledged (a request held in a stopped gateway's
/// socket and delivered when it resumed did this; found by the history check). Set by <c>CallDeadlineFilter</c> where
/// a call enters the cluster, carried in the request context to every grain call made for it, checked by
/// <c>DurableState</c> before each write.
/// </summary>
public static class CallDeadline
{
    public const string Key = "shopastro.deadline";

    /// <summary>
    /// How long before the caller gives up the deadline falls: room for the clocks of the edge and the silo to differ and
    /// for a write that started in time to commit.
    /// </summary>
    public static readonly TimeSpan Margin = TimeSpan.FromSeconds(2);

    /// <summary>The deadline of the call being served, if it has one.</summary>
    public static DateTimeOffset? Current => RequestContext.Get(Key) is long ticks ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;

    /// <summary>Sets the deadline for the calls made from here on in this asynchronous flow.</summary>
    public static void Set(DateTimeOffset deadline) => RequestContext.Set(Key, deadline.UtcTicks);

    /// <summary>No deadline for the calls made from here on in this asynchronous flow (reads bounded by the check timeout).</summary>
    public static void Clear() => RequestContext.Remove(Key);
}
