using System.Collections.Immutable;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Requests;

/// <summary>
/// The pure rules of a store's request list: which earlier request a new one repeats, what a closed request keeps
/// (nothing that names the subject), and when the repeat key of a request is no longer needed.
/// </summary>
internal static class RequestLedger
{
    /// <summary>The latest request with the same repeat key received at most <paramref name="window"/> before <paramref name="receivedAt"/>.</summary>
    public static DataSubjectRequest? FindRepeated(IEnumerable<DataSubjectRequest> requests, string repeatKey, DateTimeOffset receivedAt, TimeSpan window) =>
        requests
            .Where(r => r.RepeatKey == repeatKey && r.ReceivedAt <= receivedAt && receivedAt - r.ReceivedAt <= window)
            .MaxBy(r => r.ReceivedAt);

    /// <summary>
    /// Completes or rejects a request. The raw subject id goes (deletion §4(2) leaves none behind); what an audit
    /// needs stays: id, type, receipt, due date, closing time, rejection ground, how and when the requester was
    /// verified, and the repeat flag. The repeat key stays until <see cref="ForgetRepeatKeys"/> drops it.
    /// </summary>
    public static DataSubjectRequest Close(DataSubjectRequest request, DateTimeOffset at, RejectionGround? ground = null) =>
        request with
        {
            Status = ground is null ? RequestStatus.Completed : RequestStatus.Rejected,
            CompletedAt = at,
            RejectionGround = ground,
            SubjectId = null,
        };

    /// <summary>
    /// Drops the repeat key of every request received more than <paramref name="window"/> before
    /// <paramref name="now"/>: no later request can repeat it any more, so nothing needs to link them.
    /// </summary>
    public static ImmutableList<DataSubjectRequest> ForgetRepeatKeys(ImmutableList<DataSubjectRequest> requests, DateTimeOffset now, TimeSpan window) =>
        requests.Any(r => r.RepeatKey is not null && now - r.ReceivedAt > window)
            ? requests.Select(r => r.RepeatKey is not null && now - r.ReceivedAt > window ? r with { RepeatKey = null } : r).ToImmutableList()
            : requests;
}
