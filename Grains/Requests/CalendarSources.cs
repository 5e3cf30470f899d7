namespace ShopAstro.Grains.Requests;

/// <summary>Where the deadlines' calendar comes from: a file, a folder of yearly files, or the files built in.</summary>
public static class CalendarSources
{
    /// <exception cref="InvalidOperationException">Both a file and a folder are configured, or the folder has no calendar.</exception>
    /// <exception cref="FormatException">A file is not a calendar, or the files do not fit together.</exception>
    public static WorkingDayCalendar Load(RequestOptions options)
    {
        var file = string.IsNullOrWhiteSpace(options.Calendar) ? null : options.Calendar;
        var folder = string.IsNullOrWhiteSpace(options.CalendarFolder) ? null : options.CalendarFolder;
        if (file is not null && folder is not null)
        {
            throw new InvalidOperationException("Configure Requests:Calendar (one file) or Requests:CalendarFolder (a folder of files), not both.");
        }

        if (file is not null)
        {
            return WorkingDayCalendar.Load(file);
        }

        return folder is not null ? LoadFolder(folder) : Embedded();
    }

    /// <summary>Every <c>*.json</c> file of <paramref name="folder"/>, combined.</summary>
    public static WorkingDayCalendar LoadFolder(string folder)
    {
        if (!Directory.Exists(folder))
        {
            throw new InvalidOperationException($"Requests:CalendarFolder: the folder {folder} does not exist.");
        }

        var files = Directory.GetFiles(folder, "*.json").Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0)
        {
            throw new InvalidOperationException($"Requests:CalendarFolder: {folder} holds no calendar (*.json).");
        }

        try
        {
            return WorkingDayCalendar.Combine(files.Select(WorkingDayCalendar.Load).ToList());
        }
        catch (FormatException e) when (!files.Any(f => e.Message.StartsWith(f, StringComparison.Ordinal)))
        {
            throw new FormatException($"{folder}: {e.Message}", e);
        }
    }

    /// <summary>The calendars shipped in this assembly (Requests/Calendars/*.json), combined.</summary>
    public static WorkingDayCalendar Embedded()
    {
        var names = typeof(WorkingDayCalendar).Assembly.GetManifestResourceNames()
            .Where(name => name.StartsWith(WorkingDayCalendar.EmbeddedResourcePrefix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();
        return WorkingDayCalendar.Combine(names.Select(WorkingDayCalendar.LoadEmbedded).ToList());
    }
}
