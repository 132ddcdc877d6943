<#
.SYNOPSIS
kling-bridge on a fresh Windows machine, in one command.

.DESCRIPTION
  powershell -ExecutionPolicy Bypass -File install.ps1              install
  powershell -ExecutionPolicy Bypass -File install.ps1 -Uninstall   'kling-bridge uninstall',
        then the environment and its PATH entry go too (settings, jobs and results stay)
  powershell -ExecutionPolicy Bypass -File install.ps1 -Purge       the same, and the bridge's
        settings, jobs and logs too

Install checks for Python 3.11 or newer, installs ffmpeg with winget when it is missing,
installs the bridge in its own environment, puts 'kling-bridge' on the user's PATH and runs
'kling-bridge install --all': the daemon started at logon (a Startup entry), the DaVinci
Resolve scripts and the Blender extension. Other arguments go to 'kling-bridge install'.
Environment: KLING_BRIDGE_SOURCE (what pip installs: default the checkout this script is in,
else 'kling-bridge' from the package index), KLING_BRIDGE_VENV (default
%LOCALAPPDATA%\kling-bridge-venv), PYTHON (the Python to use).
#>
param(
    [switch]$Uninstall,
    [switch]$Purge,
    [Parameter(ValueFromRemainingArguments = $true)][string[]]$Rest = @()
)
$ErrorActionPreference = 'Stop'

function Say([string]$Message) { Write-Host "kling-bridge: $Message" }
function Die([string]$Message) { [Console]::Error.WriteLine("kling-bridge: $Message"); exit 1 }

$venv = if ($env:KLING_BRIDGE_VENV) { $env:KLING_BRIDGE_VENV } else {
    Join-Path $env:LOCALAPPDATA 'kling-bridge-venv' }
$scripts = Join-Path $venv 'Scripts'
$exe = Join-Path $scripts 'kling-bridge.exe'

function Get-UserPath { [Environment]::GetEnvironmentVariable('Path', 'User') }
function Set-UserPath([string]$Value) { [Environment]::SetEnvironmentVariable('Path', $Value, 'User') }

if ($Uninstall -or $Purge) {
    if (-not (Test-Path $exe)) { Die "nothing to uninstall: no environment at $venv" }
    $verb = @('uninstall')
    if ($Purge) { $verb += '--purge' }
    & $exe @verb @Rest
    if ($LASTEXITCODE -ne 0) { Die "uninstall did not finish (see above); the environment is kept" }
    $kept = @((Get-UserPath) -split ';' | Where-Object { $_ -and ($_ -ne $scripts) })
    Set-UserPath ($kept -join ';')
    Remove-Item -Recurse -Force $venv
    Say "removed the environment $venv"
    exit 0
}

# 1. Python >= 3.11 (3.12 is the suggestion: DaVinci Resolve 20 binds the newest registered
#    Python and crashed with 3.13).
function Find-Python {
    $candidates = @()
    if ($env:PYTHON) { $candidates += , @($env:PYTHON) }
    $candidates += , @('py', '-3.13'); $candidates += , @('py', '-3.12')
    $candidates += , @('py', '-3.11'); $candidates += , @('python')
    foreach ($c in $candidates) {
        $cmd = $c[0]; $pre = @($c | Select-Object -Skip 1)
        if (-not (Get-Command $cmd -ErrorAction SilentlyContinue)) { continue }
        $found = & $cmd @pre -c "import sys; print(sys.executable) if sys.version_info >= (3, 11) else sys.exit(1)" 2>$null
        if ($LASTEXITCODE -eq 0 -and $found) { return ($found | Select-Object -Last 1).Trim() }
    }
    return $null
}
$python = Find-Python
if (-not $python) {
    Die ("needs Python 3.11 or newer: install it with 'winget install Python.Python.3.12' " +
         "(or from python.org), open a new PowerShell, and run this again")
}

# 2. ffmpeg
function Update-SessionPath {
    $env:Path = [Environment]::GetEnvironmentVariable('Path', 'Machine') + ';' + (Get-UserPath)
}
if (-not (Get-Command ffmpeg -ErrorAction SilentlyContinue)) {
    if (-not (Get-Command winget -ErrorAction SilentlyContinue)) {
        Die "ffmpeg is missing and winget is not here: install ffmpeg (https://ffmpeg.org), then run this again"
    }
    Say 'ffmpeg is missing: installing it with winget'
    winget install --id Gyan.FFmpeg --exact --silent --accept-source-agreements --accept-package-agreements
    Update-SessionPath
    if (-not (Get-Command ffmpeg -ErrorAction SilentlyContinue)) {
        Die 'ffmpeg is still not on PATH: open a new PowerShell and run this again'
    }
}

# 3. The bridge, in its own environment
$source = $env:KLING_BRIDGE_SOURCE
if (-not $source) {
    $project = Join-Path $PSScriptRoot '..\pyproject.toml'
    if ((Test-Path $project) -and (Select-String -Path $project -Pattern '^name = "kling-bridge"' -Quiet)) {
        $source = (Resolve-Path (Join-Path $PSScriptRoot '..')).Path
    } else { $source = 'kling-bridge' }
}
if (-not (Test-Path (Join-Path $scripts 'python.exe'))) {
    Say "making the environment $venv"
    & $python -m venv $venv
    if ($LASTEXITCODE -ne 0) { Die "could not make the environment $venv" }
}
Say "installing kling-bridge from $source"
& (Join-Path $scripts 'python.exe') -m pip install -q --disable-pip-version-check --upgrade $source
if ($LASTEXITCODE -ne 0) { Die "pip could not install $source (see above)" }

# 4. The command on PATH (the user's, for new terminals, and this session's)
$userPath = Get-UserPath
if (-not (($userPath -split ';') -contains $scripts)) {
    Set-UserPath ((@($userPath, $scripts) | Where-Object { $_ }) -join ';')
    Say "added $scripts to your PATH (new terminals will find 'kling-bridge')"
}
$env:Path = "$scripts;$env:Path"

# 5. The service, the Resolve scripts and the Blender extension
if ($Rest.Count -eq 0) { $Rest = @('--all') }
& $exe install @Rest
exit $LASTEXITCODE
