using Orleans.Concurrency;

namespace ShopAstro.Grains.Interfaces;

/// <summary>Data-subject requests of §4(5). Numeric values are persisted: never renumber.</summary>
[GenerateSerializer]
public enum RequestType
{
    Access = 0,
    Correction = 1,
    Deletion = 2,
    Cancellation = 3,
    Withdrawal = 4,
    Explanation = 5,
}

[GenerateSerializer]
public enum RequestStatus
{
    Open = 0,
    Completed = 1,
}

public static class RequestTypes
{
    public static string ToId(this RequestType type) => type switch
    {
        RequestType.Access => "access",
        RequestType.Correction => "correction",
        RequestType.Deletion => "deletion",
        RequestType.Cancellation => "cancellation",
        RequestType.Withdrawal => "withdrawal",
        RequestType.Explanation => "explanation",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    public static bool TryParse(string? id, out RequestType type)
    {
        foreach (var candidate in Enum.GetValues<RequestType>())
        {
            if (candidate.ToId() == id)
            {
                type = candidate;
                return true;
            }
        }

        type = default;
        return false;
    }
}

[GenerateSerializer, Immutable, Alias("shopastro.DataSubjectRequest")]
public sealed record DataSubjectRequest(
    [property: Id(0)] string Id,
    [property: Id(1)] string SubjectId,
    [property: Id(2)] RequestType Type,
    [property: Id(3)] RequestStatus Status,
    [property: Id(4)] DateTimeOffset ReceivedAt,
    [property: Id(5)] DateTimeOffset DueAt,
    [property: Id(6)] DateTimeOffset? CompletedAt,
    [property: Id(7)] bool OverdueNotified = false)
{
    public bool IsOverdue(DateTimeOffset now) => Status == RequestStatus.Open && now > DueAt;
}

/// <summary>Which requests to list.</summary>
[GenerateSerializer]
public enum RequestFilter
{
    All = 0,
    Open = 1,
    Overdue = 2,
    Completed = 3,
}

/// <summary>A store's data-subject requests and their deadlines (key: store id).</summary>
[Alias("shopastro.IStoreRequestsGrain")]
public interface IStoreRequestsGrain : IGrainWithStringKey
{
    /// <summary>Registers a request, due 15 working days after the day of receipt.</summary>
    [Alias("Register")]
    Task<DataSubjectRequest> Register(string subjectId, RequestType type, DateTimeOffset receivedAt);

    [Alias("List"), ReadOnly]
    Task<DataSubjectRequest[]> List(RequestFilter filter);

    [Alias("Get"), ReadOnly]
    Task<DataSubjectRequest?> Get(string requestId);

    /// <summary>Completes an open request; null if there is no such request.</summary>
    [Alias("Complete")]
    Task<DataSubjectRequest?> Complete(string requestId);
}
